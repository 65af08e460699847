#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/company.sh in a reduced size (suite `slow`; docs/BENCHMARKS.md, "A
company on several daemons"): a 3-member etcd, 3 daemons of one company with
6 floors, es-load --company.  Asserted (never a time, except the generous
bound for coming back):

- failover: every person who was hearing on the SIGKILLed daemon hears audio
  again within 30 s (es-load's --recover), nobody elsewhere loses their
  daemon; etcd still holds every enrolment and every admin mute given on the
  killed daemon, and the seats it wrote are everyone's places at the kill
  (a walker's a move behind for at most 5 s: the flush is every second);
  the admin-muted who came back are admin-muted on their new daemon;
- the storm: everyone admitted and hearing, on one daemon alone and on the
  company.

Reported, not asserted: desks given with `earshotctl desk` on the killed
daemon (the daemon keeps them in its own state only, so they are gone with
it: see the report of issue 18's benchmark), and every time.

Environment: EARSHOT_BUILD (the build directory), EARSHOT_COMPANY_ARGS
(more bench/company.py options, e.g. larger sizes).  77 without etcd.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if not (shutil.which("etcd") or os.path.exists("/usr/bin/etcd")) or not shutil.which("etcdctl"):
        print("etcd-server or etcd-client not installed: skipped")
        return 77
    build = os.environ.get("EARSHOT_BUILD") or os.path.join(HERE, "..", "..", "build")
    argv = [sys.executable, os.path.join(HERE, "..", "..", "bench", "company.py"), build,
            "--victim-people", "150", "--other-people", "60", "--join-s", "3", "--admin-acts", "5",
            "--recover", "30", "--storm-people", "300", "--storm-s", "2", "--hold", "3", "--rest-s", "3"]
    argv += os.environ.get("EARSHOT_COMPANY_ARGS", "").split()
    print("$ " + " ".join(argv), flush=True)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    print(p.stdout)
    print(p.stderr[-3000:], file=sys.stderr)
    if p.returncode != 0:
        print("bench/company.py exit %d" % p.returncode)
        return 1
    r = json.loads(p.stdout.strip().splitlines()[-1])
    fo, st = r["failover"], r["failover"]["state"]
    bad = []

    def check(ok, what):
        print("%s: %s" % ("ok" if ok else "FAILED", what))
        if not ok:
            bad.append(what)

    check(fo["admitted"] == fo["people"], "failover: all %d admitted before the kill" % fo["people"])
    check(fo["killed_hearing"] > 0 and fo["killed_hearing"] == fo["killed_people"],
          "failover: the %d people on the killed daemon were hearing at the kill" % fo["killed_people"])
    check(fo["never_back"] == 0 and fo["back"] == fo["killed_hearing"],
          "failover: all %d back within %.0f s (p99 %.0f ms)" % (fo["killed_hearing"], fo["recover_bound_s"],
                                                               fo["back_ms_p99"]))
    check(fo["others_lost"] == 0, "failover: nobody on the other daemons lost theirs")
    check(st["etcd_enrolled"] == st["people"], "failover: %d of %d enrolments in etcd" % (st["etcd_enrolled"],
                                                                                          st["people"]))
    check(all(n == st["people"] for n in st["survivors_enrolled"]),
          "failover: the survivors know %s enrolled" % st["survivors_enrolled"])
    check(st["etcd_mutes"] == st["muted_by_admin"], "failover: %d of %d admin mutes in etcd" % (st["etcd_mutes"],
                                                                                                st["muted_by_admin"]))
    check(st["muted_after_rejoin"] == st["muted_present_after"],
          "failover: %d of the %d admin-muted seen back are admin-muted" % (st["muted_after_rejoin"],
                                                                            st["muted_present_after"]))
    # seats are flushed to etcd every second: a walker's seat may lag its last move by about that (the
    # issue's goal: 2 s); the bound here is generous for a loaded machine, it catches seats not rewritten
    lag = st["unwritten_move_age_s_max"] or 0
    check(st["seats_missing"] == 0 and lag <= 5,
          "failover: %d of %d seats in etcd at their places at the kill, the rest a move behind (etcd wrong for "
          "at most %.2f s; bound 5 s), %d missing" % (st["seats_right"], st["victim_people_at_kill"], lag,
                                                     st["seats_missing"]))
    print("reported: %d of %d desks given on the killed daemon are in etcd, %s on the survivors" % (
        st["desks_in_etcd"], st["desks_by_admin"], st["desks_on_survivors"]))
    for k in ("storm_one", "storm_company"):
        s = r[k]
        check(s["admitted"] == s["people"] and s["heard"] == s["people"],
              "%s: %d of %d admitted, %d hearing (first audio p99 %.0f ms)" % (k, s["admitted"], s["people"],
                                                                             s["heard"], s["first_audio_ms_p99"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
