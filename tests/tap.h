/* tap.h: the tiny result protocol shared by every C test: one "ok - name" / "not ok - name" /
 * "ok - name # SKIP why" line per check; tests/run.sh counts them. Also where the shared data is, and
 * the skip line for a check that needs a missing part of it. */
#ifndef GPTOSS_TAP_H
#define GPTOSS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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

/* The shared data directory (spec, goldens, vocabulary, harmony data): $GPTOSS_SHARED, which
 * tests/run.sh always sets, else ../shared. */
static inline const char *tap_shared_dir(void) {
    const char *s = getenv("GPTOSS_SHARED");
    return s && *s ? s : "../shared";
}

/* PATH = the shared data directory + "/" + REL; 1 when it exists. Otherwise one skip line for NAME
 * in the form tests/run.sh counts as missing shared data ("# SKIP ../shared not found
 * (GPTOSS_SHARED=...): needs REL") and 0. */
static inline int tap_shared_path(const char *name, const char *rel, char *path, size_t cap) {
    struct stat st;
    snprintf(path, cap, "%s/%s", tap_shared_dir(), rel);
    if (stat(path, &st) == 0) return 1;
    printf("ok - %s # SKIP ../shared %s (GPTOSS_SHARED=%s): needs %s\n", name,
           stat(tap_shared_dir(), &st) == 0 ? "incomplete" : "not found", tap_shared_dir(), rel);
    fflush(stdout);
    return 0;
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
