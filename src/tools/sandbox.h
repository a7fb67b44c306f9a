/* sandbox.h: the jail untrusted code runs in: a bubblewrap (bwrap) sandbox with its own user, PID,
 * network, IPC, UTS and cgroup namespaces, read-only system directories, one writable host directory
 * at /mnt/data, a seccomp filter (libseccomp) and resource limits. Used by the python tool. */
#ifndef GPTOSS_TOOLS_SANDBOX_H
#define GPTOSS_TOOLS_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "gptoss.h"

/* The uid and gid the sandbox runs as when gptoss runs as root: root's processes are exempt from
 * RLIMIT_NPROC, so a fork bomb is only contained under another uid (the `nobody` of Debian). */
#define GPTOSS_SANDBOX_ROOT_UID 65534u

typedef struct gptoss_sandbox_spec {
    const char *const *argv;  /* the command inside the sandbox; argv[0] an absolute path */
    const char *data_dir;     /* host directory bound read-write at /mnt/data (also the working dir) */
    const char *exe_prefix;   /* NULL, or a host directory (outside /usr) bound read-only at the same path,
                                 for an interpreter installed elsewhere */
    const char *file_path;    /* NULL, or a file made read-only inside the sandbox (the python driver) */
    const char *file_data;    /* its contents */
    size_t file_len;
    size_t memory_bytes;      /* RLIMIT_AS */
    size_t file_bytes;        /* RLIMIT_FSIZE; also the private /tmp's size, up to 512 MiB */
    size_t cpu_s;             /* RLIMIT_CPU: a backstop for a process that escapes the time-outs */
    int in_fds[2];            /* host fds that become fds 3 and 4 inside (-1: /dev/null) */
    int out_fd;               /* host fd that becomes fds 1 and 2 inside */
} gptoss_sandbox_spec;

/* Whether sandboxes can be made here at all (built with libseccomp, bwrap found). GPTOSS_OK or one
 * line in err naming the missing package. Does not start a sandbox. */
gptoss_status gptoss_sandbox_available(char *err, size_t err_size);

/* As root the sandbox's bwrap runs as GPTOSS_SANDBOX_ROOT_UID and resolves the directories it binds
 * by their host paths (bwrap 0.8 calls realpath() even on --bind-fd's /proc/self/fd/N), so every
 * directory above one must be searchable by that uid. 0, or 1 with err saying which is not and naming
 * the path as `what` (mode bits only; an ACL that would allow it is not consulted). */
int gptoss_sandbox_unreachable(const char *path, const char *what, char *err, size_t err_size);

/* Starts the sandbox; *pid is bwrap's host pid (kill it to kill everything inside: the sandbox's PID 1
 * dies with bwrap, and every process in a PID namespace dies with its PID 1). The fork happens on a
 * process-wide thread that lives until exit, because bwrap's --die-with-parent is PR_SET_PDEATHSIG,
 * which prctl(2) says follows the thread that forked, not the process: a sandbox made from a
 * short-lived request thread could die with it. */
gptoss_status gptoss_sandbox_start(const gptoss_sandbox_spec *spec, pid_t *pid, char *err, size_t err_size);

/* The pid stays valid until one of the calls below reaps it, so the process must not set SIGCHLD to
 * SIG_IGN (the kernel would reap it, and a kill could reach a reused pid). */
/* SIGKILL to the sandbox and waits for it. *status (NULL allowed) gets waitpid's status. */
void gptoss_sandbox_kill(pid_t pid, int *status);
/* 1 when the sandbox has exited (then it is reaped: *status gets waitpid's status, and the pid must not
 * be used again), 0 while it runs. */
int gptoss_sandbox_exited(pid_t pid, int *status);
/* Gives the sandbox up to wait_s seconds to exit by itself (bwrap exits with its command's status,
 * 128 + the signal when a signal killed it), then kills it as gptoss_sandbox_kill. */
void gptoss_sandbox_reap(pid_t pid, double wait_s, int *status);

#endif
