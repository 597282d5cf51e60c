/*
 * placement.c -- where the pieces of a bulk request go.  Pure: the view's
 * figures in, slot indexes out.
 */
#include "cluster.h"

/* The slot a piece goes to, given the pieces placed so far (add[i]), or -1
 * when every slot is full. */
static int pick(const cluster_slot *s, size_t n, const int *add, bool binpack)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        int load = s[i].load + add[i];
        if (s[i].capacity > 0 && load >= s[i].capacity)
            continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        int bl = s[best].load + add[best];
        if (binpack ? load > bl : load < bl)
            best = (int)i;
    }
    return best;
}

int cluster_place_pieces(const cluster_slot *slots, size_t nslots, int n, bool binpack, int *out)
{
    int placed = 0;
    int add[nslots > 0 ? nslots : 1];
    for (size_t i = 0; i < nslots; i++)
        add[i] = 0;
    for (int k = 0; k < n; k++) {
        int i = pick(slots, nslots, add, binpack);
        out[k] = i;
        if (i >= 0) {
            add[i]++;
            placed++;
        }
    }
    return placed;
}
