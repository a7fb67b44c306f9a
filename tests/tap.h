/* tap.h: the tiny result protocol shared by every C test: one "ok - name" / "not ok - name" /
 * "ok - name # SKIP why" line per check; tests/run.sh counts them. */
#ifndef GPTOSS_TAP_H
#define GPTOSS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n_failed;

static inline int tap_check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok" : "not ok");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok) tap_n_failed++;
    return ok;
}

static inline void tap_skip(const char *name, const char *why) {
    printf("ok - %s # SKIP %s\n", name, why);
    fflush(stdout);
}

static inline void tap_diag(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* A deadline that only stops a hang is multiplied by this: GPTOSS_TEST_TIME_SCALE, set by tests/run.sh
 * (larger under sanitizers; tests/lib.sh). Tests wait for conditions, never for a fixed time. */
static inline unsigned tap_time_scale(void) {
    const char *s = getenv("GPTOSS_TEST_TIME_SCALE");
    unsigned long v = s ? strtoul(s, NULL, 10) : 0;
    return v >= 1 && v <= 10000 ? (unsigned)v : 1;
}

static inline int tap_exit(void) { return tap_n_failed ? 1 : 0; }

#endif
