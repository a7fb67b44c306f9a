/* test_sandbox_nonlinux.c: the python tool on a system that is not Linux. The sandbox (bubblewrap,
 * namespaces, seccomp) exists only on Linux; elsewhere the tool must build and refuse cleanly with a
 * message saying what it needs. The Makefile builds src/tools/sandbox.c into this test with __linux__
 * undefined (and libseccomp said to be present), so that branch runs here for real; the rest of the
 * library is the ordinary one. */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "tools/python.h"
#include "tools/sandbox.h"

int main(void) {
    char err[256] = "";
    gptoss_status st = gptoss_sandbox_available(err, sizeof err);
    tap_check(st == GPTOSS_ERR_UNSUPPORTED && strstr(err, "needs Linux with bubblewrap"),
              "sandbox off Linux: unsupported, saying it needs Linux with bubblewrap (%s)", err);

    gptoss_python_options o = {.python_exe = "/bin/sh"}; /* any executable: the sandbox check comes first */
    gptoss_python *py = (gptoss_python *)&o;
    err[0] = 0;
    st = gptoss_python_create(&o, &py, err, sizeof err);
    tap_check(st == GPTOSS_ERR_UNSUPPORTED && py == NULL && strstr(err, "needs Linux"),
              "python tool off Linux: create fails cleanly, *out NULL, one line (%s)", err);
    err[0] = 0;
    st = gptoss_python_check(&o, err, sizeof err);
    tap_check(st == GPTOSS_ERR_UNSUPPORTED && strstr(err, "needs Linux"), "python tool off Linux: check says so (%s)",
              err);

    pid_t pid = 12345;
    const char *argv[] = {"/bin/true", NULL};
    gptoss_sandbox_spec spec = {.argv = argv, .data_dir = "/tmp", .in_fds = {-1, -1}, .out_fd = -1};
    err[0] = 0;
    st = gptoss_sandbox_start(&spec, &pid, err, sizeof err);
    tap_check(st == GPTOSS_ERR_UNSUPPORTED && pid == -1 && err[0], "sandbox start off Linux: refused, no process");
    return tap_n_failed ? 1 : 0;
}
