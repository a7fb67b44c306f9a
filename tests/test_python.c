/* test_python.c: the python tool's library API (src/tools/python.h) where the command cannot reach:
 * constructor errors, the data directory's life, replies as valid UTF-8 within max_reply_bytes, tools
 * used from several threads at once, a sandbox started while fds 0..1023 are all taken, and an
 * interpreter that outlives the thread which started it (bwrap's --die-with-parent follows threads).
 * Skips when the sandbox is unavailable here. */
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "tokenizer/unicode.h"
#include "tools/python.h"

static char *call(gptoss_python *py, const char *code) {
    char *reply = NULL;
    if (gptoss_python_call(py, code, strlen(code), &reply) != GPTOSS_OK) return NULL;
    return reply;
}

static int reply_is(gptoss_python *py, const char *code, const char *want) {
    char *r = call(py, code);
    int ok = r && !strcmp(r, want);
    if (!ok) tap_diag("%s -> %s (wanted %s)", code, r ? r : "(null)", want);
    free(r);
    return ok;
}

static int valid_utf8(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += gptoss_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp == 0xFFFFFFFFu) return 0;
    }
    return 1;
}

typedef struct worker {
    int id, ok;
    gptoss_python *py;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    char code[64], want[32];
    snprintf(code, sizeof code, "me = %d", w->id);
    w->ok = reply_is(w->py, code, "");
    for (int i = 0; i < 20 && w->ok; i++) {
        snprintf(want, sizeof want, "%d", w->id * 100 + i);
        snprintf(code, sizeof code, "me * 100 + %d", i);
        w->ok = reply_is(w->py, code, want);
    }
    return NULL;
}

static void *create_and_start(void *arg) {
    worker *w = arg;
    char err[256];
    w->ok = gptoss_python_create(NULL, &w->py, err, sizeof err) == GPTOSS_OK && reply_is(w->py, "kept = 'yes'", "");
    return NULL; /* the thread ends; the interpreter must not */
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "not ok - test_python hung (a deadlock: the spawner queue, a call past its time-out)\n";
    if (write(1, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(120 * tap_time_scale()); /* a hang guard only */
    gptoss_python_free(NULL);
    char err[512] = "";
    gptoss_python *py = (gptoss_python *)1;
    gptoss_python_options bad = {.python_exe = "python3"};
    tap_check(gptoss_python_create(&bad, &py, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT && !py && err[0],
              "a relative python_exe is refused, *out NULL, one line: %s", err);
    if (gptoss_python_check(NULL, err, sizeof err) != GPTOSS_OK) {
        tap_check(err[0] && !strchr(err, '\n'), "an unavailable sandbox says why in one line: %s", err);
        tap_skip("python tool", err);
        return tap_n_failed != 0;
    }
    tap_check(1, "gptoss_python_check: the sandbox works here");

    err[0] = 0;
    if (!tap_check(gptoss_python_create(NULL, &py, err, sizeof err) == GPTOSS_OK && py, "create with defaults%s", err))
        return 1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", gptoss_python_data_dir(py));
    struct stat st;
    tap_check(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "a private data directory is made (%s)", dir);
    tap_check(reply_is(py, "x = [1, 2]", "") && reply_is(py, "x.append(3)\nx", "[1, 2, 3]"),
              "state between calls, the last expression's repr");
    char *r = NULL;
    tap_check(gptoss_python_call(py, NULL, 0, &r) == GPTOSS_OK && r && !r[0], "an empty cell gives an empty reply");
    free(r);
    r = call(py, "import os\nos.write(1, b'bad \\xff\\xfe bytes\\n')\nprint('\\u00e9')");
    tap_check(r && valid_utf8(r) && strstr(r, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes") && strstr(r, "\xC3\xA9"),
              "invalid UTF-8 output becomes U+FFFD, valid UTF-8 is kept");
    free(r);
    tap_check(reply_is(py, "open('/mnt/data/f', 'w').write('abc')", "3"), "a file is written to /mnt/data");
    char outside[] = "/tmp/gptoss-test-outside-XXXXXX", kept[4200];
    if (mkdtemp(outside)) {
        snprintf(kept, sizeof kept, "%s/kept", outside);
        FILE *f = fopen(kept, "w");
        if (f) fclose(f);
        char code[4400];
        snprintf(code, sizeof code, "import os\nos.mkdir('/mnt/data/d')\nos.symlink('%s', '/mnt/data/d/link')\n"
                 "os.symlink('%s', '/mnt/data/top')", outside, outside);
        reply_is(py, code, "");
    }
    gptoss_python_free(py);
    tap_check(stat(dir, &st) != 0, "free removes the data directory the tool made");
    tap_check(outside[0] && stat(kept, &st) == 0, "free removes symlinks the sandbox left as names, not what they name");
    remove(kept);
    rmdir(outside);

    gptoss_python_options small = {.max_reply_bytes = 300};
    if (gptoss_python_create(&small, &py, err, sizeof err) == GPTOSS_OK) {
        r = call(py, "print('\\u00e9' * 1000)\nlist(range(1000))");
        tap_check(r && strlen(r) <= 300 && valid_utf8(r) && strstr(r, "[output truncated: ") &&
                      strstr(r, "[value truncated: "),
                  "a long reply is cut to max_reply_bytes on a character boundary, with notes (%zu bytes)",
                  r ? strlen(r) : 0);
        free(r);
        gptoss_python_free(py);
    } else {
        tap_check(0, "create with max_reply_bytes 300: %s", err);
    }

    worker w[6];
    pthread_t t[6];
    int made = 1;
    for (int i = 0; i < 6; i++) {
        w[i] = (worker){.id = i + 1};
        made &= gptoss_python_create(NULL, &w[i].py, err, sizeof err) == GPTOSS_OK;
    }
    if (made) {
        for (int i = 0; i < 6; i++) pthread_create(&t[i], NULL, work, &w[i]);
        for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
    }
    int all_ok = made;
    for (int i = 0; i < 6; i++) all_ok &= w[i].ok;
    tap_check(all_ok, "six tools started and used on six threads at once keep separate state (the spawner queue)");
    for (int i = 0; i < 6; i++) gptoss_python_free(w[i].py);

    if (gptoss_python_create(NULL, &py, err, sizeof err) == GPTOSS_OK) {
        reply_is(py, "import os, threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), os._exit(5))).start()", "");
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
        r = call(py, "print('fresh')");
        tap_check(r && strstr(r, "[The Python interpreter had died since the last call (exit status 5); this call ran in a new "
                                 "one") && strstr(r, "]\nfresh\n"),
                  "an interpreter that died between calls is replaced, and the reply says so");
        free(r);
        gptoss_python_free(py);
    }

    /* a process whose fds fill every number below the sandbox's RLIMIT_NOFILE (1024), as a busy server's
     * connections do: the sandbox still starts */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && (nofile.rlim_max == RLIM_INFINITY || nofile.rlim_max >= 1200)) {
        struct rlimit raised = {1200, nofile.rlim_max};
        setrlimit(RLIMIT_NOFILE, &raised);
        int fds[1100], n_fds = 0;
        while (n_fds < 1100) {
            int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) break;
            fds[n_fds++] = fd;
            if (fd >= 1023) break;
        }
        if (gptoss_python_create(NULL, &py, err, sizeof err) == GPTOSS_OK) {
            r = call(py, "print('many')");
            tap_check(r && !strcmp(r, "many\n"), "the sandbox starts while fds 0..1023 are all in use: %s", r ? r : "");
            free(r);
            gptoss_python_free(py);
        }
        for (int i = 0; i < n_fds; i++) close(fds[i]);
        setrlimit(RLIMIT_NOFILE, &nofile);
    } else {
        tap_skip("sandbox with fds 0..1023 in use", "RLIMIT_NOFILE's hard limit is below 1200");
    }

    worker c = {0};
    pthread_t ct;
    pthread_create(&ct, NULL, create_and_start, &c);
    pthread_join(ct, NULL);
    tap_check(c.ok && reply_is(c.py, "kept", "'yes'"),
              "an interpreter started on a thread that ended still answers, with its state");
    gptoss_python_free(c.py);
    return tap_exit();
}
