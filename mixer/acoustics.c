/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "earshot-mixer.h"

void es_acoustics_default(struct es_acoustics *ac)
{
	ac->full_m = 1.5f;
	ac->range_m = 15.0f;
	ac->fade_m = 3.0f;
	ac->max_voices = 8;
	ac->drop_db = 20.0f;
}

float es_distance_gain(const struct es_acoustics *ac, float d)
{
	if (!(d >= 0.0f)) /* NaN or negative: treat as inaudible */
		return 0.0f;
	if (d <= ac->full_m)
		return 1.0f;
	if (d >= ac->range_m)
		return 0.0f;
	float g = ac->full_m / d;
	float fade_start = ac->range_m - ac->fade_m;
	if (d > fade_start && ac->fade_m > 0.0f) {
		/* raised-cosine taper: no corner where the fade begins */
		float t = (d - fade_start) / ac->fade_m;
		g *= 0.5f * (1.0f + cosf((float)M_PI * t));
	}
	return g;
}

float es_azimuth(float lx, float ly, float facing, float sx, float sy)
{
	float dx = sx - lx, dy = sy - ly;
	if (dx == 0.0f && dy == 0.0f)
		return 0.0f;
	/* bearing: 0 along +y, clockwise positive (towards +x) */
	float a = atan2f(dx, dy) - facing;
	while (a > (float)M_PI)
		a -= 2.0f * (float)M_PI;
	while (a <= -(float)M_PI)
		a += 2.0f * (float)M_PI;
	return a;
}
