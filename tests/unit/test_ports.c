/*
 * test_ports.c -- the table of ports (tests/ports.h) keeps its promise:
 * every port the tests and scripts bind lies below the kernel's ephemeral
 * range, and no two entries overlap, counting the distribution ports of the
 * private RabbitMQ nodes.  The table is read as text ($PORTS_TABLE), so an
 * entry added later is checked without touching this file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ports.h"

#define MAX_ENTRIES 64

typedef struct entry {
    char name[64];
    int first, last;
} entry;

static entry g_entries[MAX_ENTRIES];
static int g_n;

/* Reads every "#define DD_PORT_NAME N" and "#define DD_PORTS_NAME A, B" of
 * the table; a RabbitMQ entry (its name says RABBIT, or the main node)
 * also reserves its ports + DD_PORT_DIST_OFFSET, as an entry of its own. */
static int load_table(void **state)
{
    (void)state;
    const char *path = getenv("PORTS_TABLE");
    FILE *f = fopen(path ? path : "tests/ports.h", "r");
    if (f == NULL)
        return -1;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL && g_n < MAX_ENTRIES - 1) {
        char name[64];
        int a, b;
        int n = sscanf(line, "#define %63s %d , %d", name, &a, &b);
        if (n < 2 || strncmp(name, "DD_PORT", 7) != 0 || strcmp(name, "DD_PORT_DIST_OFFSET") == 0)
            continue;
        if (n == 2)
            b = a;
        entry *e = &g_entries[g_n++];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->first = a;
        e->last = b;
        if (strstr(name, "RABBIT") != NULL) {
            entry *d = &g_entries[g_n++];
            snprintf(d->name, sizeof d->name, "%.50s (dist)", name);
            d->first = a + DD_PORT_DIST_OFFSET;
            d->last = b + DD_PORT_DIST_OFFSET;
        }
    }
    fclose(f);
    return g_n > 0 ? 0 : -1;
}

/* The table parses and holds what the fixtures use. */
static void test_table_is_read(void **state)
{
    (void)state;
    assert_true(g_n >= 10);
    for (int i = 0; i < g_n; i++)
        assert_true(g_entries[i].first > 0 && g_entries[i].first <= g_entries[i].last);
    assert_int_equal(DD_FIRST(DD_PORTS_LANE_RABBIT) < DD_LAST(DD_PORTS_LANE_RABBIT), 1);
}

/* Below the ephemeral range: 32768 (the kernel's default floor) and the
 * range this machine uses, whichever is lower. */
static void test_below_ephemeral_range(void **state)
{
    (void)state;
    int lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        int l, h;
        if (fscanf(f, "%d %d", &l, &h) == 2 && l < lo)
            lo = l, hi = h;
        fclose(f);
    }
    for (int i = 0; i < g_n; i++)
        if (g_entries[i].last >= lo && g_entries[i].first <= hi)
            fail_msg("%s (%d..%d) lies in the ephemeral range %d..%d", g_entries[i].name,
                     g_entries[i].first, g_entries[i].last, lo, hi);
}

static void test_no_overlap(void **state)
{
    (void)state;
    for (int i = 0; i < g_n; i++)
        for (int j = i + 1; j < g_n; j++)
            if (g_entries[i].first <= g_entries[j].last && g_entries[j].first <= g_entries[i].last)
                fail_msg("%s (%d..%d) overlaps %s (%d..%d)", g_entries[i].name, g_entries[i].first,
                         g_entries[i].last, g_entries[j].name, g_entries[j].first,
                         g_entries[j].last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_read),
        cmocka_unit_test(test_below_ephemeral_range),
        cmocka_unit_test(test_no_overlap),
    };
    return cmocka_run_group_tests(tests, load_table, NULL);
}
