/* sandbox.c: starting a bubblewrap sandbox (see sandbox.h): the bwrap command line, the seccomp
 * filter handed to bwrap as a BPF program in a memfd, the resource limits and the uid set in the
 * vforked child before bwrap runs, and the one thread every sandbox is started from. */
#include "tools/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The sandbox is Linux's (user namespaces, seccomp, memfd, bwrap); elsewhere only the calls that say
 * so and the helpers that need nothing of it are built. */
#if defined(__linux__) && defined(GPTOSS_HAVE_LIBSECCOMP)
#define SANDBOX 1
#include <sched.h>
#include <seccomp.h>
#include <sys/syscall.h>
#else
#define SANDBOX 0
#endif

/* fds inside the forked child, before bwrap runs: 0 /dev/null, 1 and 2 the output, 3 and 4 the
 * caller's, then what bwrap itself consumes */
enum { FD_DATA = 5, FD_SECCOMP = 6, FD_PREFIX = 7, FD_FILE = 8, FD_FIRST_FREE = 9 };
#define MAX_TMP_BYTES ((size_t)512 << 20) /* tmpfs pages are the host's memory, outside RLIMIT_AS */
#define SHM_BYTES ((size_t)64 << 20)

#if SANDBOX
static int find_bwrap(char *path, size_t size) {
    /* as root only the system folders count: a bwrap placed earlier in PATH would run as root */
    const char *env = geteuid() == 0 ? NULL : getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/bin", env && *env ? env : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (*d != '/') continue; /* a relative PATH entry would depend on the cwd */
        int n = snprintf(path, size, "%s/bwrap", d);
        if (n > 0 && (size_t)n < size && access(path, X_OK) == 0) return 0;
    }
    return -1;
}
#endif

gptoss_status gptoss_sandbox_available(char *err, size_t err_size) {
#if !defined(__linux__)
    snprintf(err, err_size,
             "the sandbox needs Linux with bubblewrap (user namespaces and seccomp): it is not available on this "
             "system");
    return GPTOSS_ERR_UNSUPPORTED;
#elif !SANDBOX
    snprintf(err, err_size, "the sandbox needs libseccomp at build time: install libseccomp-dev and rebuild gptoss");
    return GPTOSS_ERR_UNSUPPORTED;
#else
    char path[PATH_MAX];
    if (find_bwrap(path, sizeof path)) {
        snprintf(err, err_size, "the sandbox needs bubblewrap: bwrap not found in %s (install the bubblewrap package)",
                 geteuid() == 0 ? "/usr/bin or /bin (root does not search PATH)" : "PATH, /usr/bin or /bin");
        return GPTOSS_ERR_UNSUPPORTED;
    }
    return GPTOSS_OK;
#endif
}

#if SANDBOX
/* Refused with EPERM: what reaches the kernel's least-used surfaces or other processes, and every way
 * back out of the namespaces (bwrap's own setup happens before the filter applies). */
static const char *const denied_syscalls[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load", "kexec_file_load",
    "add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd", "unshare", "setns",
    "reboot", "swapon", "swapoff", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64",
    "settimeofday", "adjtimex", "stime", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "iopl",
    "ioperm", "syslog", "vhangup", "nfsservctl", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "uselib", "personality", "fanotify_init", "lsm_set_self_attr",
};

/* The BPF program in a memfd (offset 0), or -1 with err. */
static int seccomp_program(char *err, size_t err_size) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(err, err_size, "seccomp_init failed");
        return -1;
    }
    /* a syscall of another ABI (i386's int 0x80 on x86-64) ends the whole process; libseccomp's default
     * would kill only the calling thread, leaving the driver without its main thread */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; i < sizeof denied_syscalls / sizeof *denied_syscalls && !rc; i++) {
        int nr = seccomp_syscall_resolve_name(denied_syscalls[i]);
        if (nr == __NR_SCMP_ERROR) continue; /* not a syscall of this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc fall back to clone,
     * whose flags it can; a clone making a namespace is refused like unshare */
    if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof ns_flags / sizeof *ns_flags && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    /* TIOCSTI would push input into a terminal outside; there is none (--new-session), but be sure */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, 0x5412u /* TIOCSTI */));
    int fd = -1;
    if (!rc) {
        fd = memfd_create("gptoss-seccomp", MFD_CLOEXEC);
        if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || lseek(fd, 0, SEEK_SET) != 0) {
            snprintf(err, err_size, "cannot write the seccomp filter: %s", strerror(errno));
            if (fd >= 0) close(fd);
            fd = -1;
        }
    } else {
        snprintf(err, err_size, "cannot build the seccomp filter: %s", strerror(-rc));
    }
    seccomp_release(ctx);
    return fd;
}

/* The process-wide thread sandboxes are forked from (sandbox.h says why). */
typedef struct spawn_request {
    char *const *argv, *const *envp;
    const char *bwrap;
    int fds[FD_FIRST_FREE]; /* the fd each child fd comes from, -1: none */
    struct rlimit limits[5];
    int resources[5];
    int as_root;
    long max_fd; /* one past the highest fd the parent may hold */
    pid_t pid;
    int error, done;
} spawn_request;

static pthread_once_t spawner_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t spawner_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawner_cond = PTHREAD_COND_INITIALIZER;
static spawn_request *spawner_pending;
static int spawner_failed;

/* Runs in a vfork child, which shares the parent's memory until execve: only system calls, no libc state
 * touched. The uid change is raw syscalls because libc's setuid would signal the parent's threads (it
 * changes the uid of every thread of a process, and the child looks like the parent to libc). */
static void child_exec(const spawn_request *r) {
    sigset_t none;
    sigemptyset(&none);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); /* an ignored SIGINT would stay ignored */
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* move every source above the targets first, so that dup2 never meets its own fd (which would keep
     * FD_CLOEXEC) and no target overwrites a source still needed; before RLIMIT_NOFILE drops, which a
     * server holding many connections would otherwise leave no room under for the copies */
    int high[FD_FIRST_FREE];
    for (int i = 0; i < FD_FIRST_FREE; i++) {
        high[i] = r->fds[i] < 0 ? -1 : fcntl(r->fds[i], F_DUPFD_CLOEXEC, 64);
        if (r->fds[i] >= 0 && high[i] < 0) _exit(125);
    }
    for (int i = 0; i < FD_FIRST_FREE; i++) {
        if (high[i] < 0) {
            close(i);
            continue;
        }
        if (dup2(high[i], i) < 0) _exit(125);
    }
    /* nothing else of the parent's may reach the sandbox: close by hand where close_range is missing
     * (before Linux 5.9) */
    if (syscall(SYS_close_range, FD_FIRST_FREE, ~0u, 0) != 0)
        for (long fd = FD_FIRST_FREE; fd < r->max_fd; fd++) close((int)fd);
    for (int i = 0; i < 5; i++)
        if (setrlimit(r->resources[i], &r->limits[i])) _exit(125);
    if (r->as_root) {
        const long id = GPTOSS_SANDBOX_ROOT_UID;
        if (syscall(SYS_setgroups, 0, NULL) || syscall(SYS_setresgid, id, id, id) || syscall(SYS_setresuid, id, id, id))
            _exit(125);
    }
    execve(r->bwrap, r->argv, r->envp);
    static const char msg[] = "gptoss: cannot run bwrap\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(127);
    _exit(127);
}

static void *spawner_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&spawner_mutex);
    for (;;) {
        while (!spawner_pending || spawner_pending->done) pthread_cond_wait(&spawner_cond, &spawner_mutex);
        spawn_request *r = spawner_pending;
        /* vfork, not fork: the parent may map many gigabytes (a server's model and caches), whose page
         * tables fork would copy for a child that only calls execve */
        pid_t pid = vfork();
        if (pid == 0) child_exec(r);
        r->pid = pid;
        r->error = pid < 0 ? errno : 0;
        r->done = 1;
        pthread_cond_broadcast(&spawner_cond);
    }
    return NULL;
}

static void spawner_init(void) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the process's signals are for its other threads */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    spawner_failed = pthread_create(&t, &attr, spawner_main, NULL) != 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static pid_t spawn(spawn_request *r) {
    pthread_once(&spawner_once, spawner_init);
    if (spawner_failed) {
        errno = EAGAIN;
        return -1;
    }
    pthread_mutex_lock(&spawner_mutex);
    while (spawner_pending && !spawner_pending->done) pthread_cond_wait(&spawner_cond, &spawner_mutex);
    spawner_pending = r;
    pthread_cond_broadcast(&spawner_cond);
    while (!r->done) pthread_cond_wait(&spawner_cond, &spawner_mutex);
    if (spawner_pending == r) spawner_pending = NULL; /* another caller may have queued its own already */
    pthread_cond_broadcast(&spawner_cond);
    pthread_mutex_unlock(&spawner_mutex);
    errno = r->error;
    return r->pid;
}

typedef struct argv_list {
    char *items[160];
    size_t n;
    int full;
} argv_list;

static void arg(argv_list *a, const char *s) {
    if (a->n + 1 >= sizeof a->items / sizeof *a->items) {
        a->full = 1;
        return;
    }
    a->items[a->n++] = (char *)s;
    a->items[a->n] = NULL;
}

/* The merged-/usr links (/bin -> usr/bin) as links, real directories as read-only binds. */
static void bind_system_dir(argv_list *a, const char *path, char *link_buf, size_t link_size) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(path, link_buf, link_size - 1);
        if (n <= 0) return;
        link_buf[n] = 0;
        arg(a, "--symlink");
        arg(a, link_buf);
        arg(a, path);
    } else if (S_ISDIR(st.st_mode)) {
        arg(a, "--ro-bind");
        arg(a, path);
        arg(a, path);
    }
}
#endif

gptoss_status gptoss_sandbox_start(const gptoss_sandbox_spec *spec, pid_t *pid, char *err, size_t err_size) {
    *pid = -1;
    gptoss_status st = gptoss_sandbox_available(err, err_size);
    if (st != GPTOSS_OK) return st;
#if SANDBOX
    char bwrap[PATH_MAX];
    if (find_bwrap(bwrap, sizeof bwrap)) {
        snprintf(err, err_size, "bwrap not found (install the bubblewrap package)");
        return GPTOSS_ERR_UNSUPPORTED;
    }
    int data_fd = open(spec->data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (data_fd < 0) {
        snprintf(err, err_size, "%s: %s", spec->data_dir, strerror(errno));
        return GPTOSS_ERR_IO;
    }
    int prefix_fd = -1;
    if (spec->exe_prefix) {
        prefix_fd = open(spec->exe_prefix, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (prefix_fd < 0) {
            snprintf(err, err_size, "%s: %s", spec->exe_prefix, strerror(errno));
            close(data_fd);
            return GPTOSS_ERR_IO;
        }
    }
    int file_fd = -1;
    if (spec->file_path) {
        file_fd = memfd_create("gptoss-sandbox-file", MFD_CLOEXEC);
        size_t done = 0;
        while (file_fd >= 0 && done < spec->file_len) {
            ssize_t n = write(file_fd, spec->file_data + done, spec->file_len - done);
            if (n <= 0) {
                close(file_fd);
                file_fd = -1;
                break;
            }
            done += (size_t)n;
        }
        if (file_fd < 0 || lseek(file_fd, 0, SEEK_SET) != 0) {
            snprintf(err, err_size, "cannot write the sandbox's file %s: %s", spec->file_path, strerror(errno));
            if (file_fd >= 0) close(file_fd);
            if (prefix_fd >= 0) close(prefix_fd);
            close(data_fd);
            return GPTOSS_ERR_IO;
        }
    }
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int seccomp_fd = seccomp_program(err, err_size);
    if (seccomp_fd < 0 || null_fd < 0) {
        if (null_fd < 0) snprintf(err, err_size, "/dev/null: %s", strerror(errno));
        if (seccomp_fd >= 0) close(seccomp_fd);
        if (null_fd >= 0) close(null_fd);
        if (prefix_fd >= 0) close(prefix_fd);
        if (file_fd >= 0) close(file_fd);
        close(data_fd);
        return GPTOSS_ERR_IO;
    }

    char links[6][64], size_text[32], shm_text[32], data_fd_text[8], seccomp_fd_text[8], prefix_fd_text[8],
        file_fd_text[8];
    snprintf(size_text, sizeof size_text, "%zu", spec->file_bytes < MAX_TMP_BYTES ? spec->file_bytes : MAX_TMP_BYTES);
    snprintf(shm_text, sizeof shm_text, "%zu", SHM_BYTES);
    snprintf(file_fd_text, sizeof file_fd_text, "%d", FD_FILE);
    snprintf(data_fd_text, sizeof data_fd_text, "%d", FD_DATA);
    snprintf(seccomp_fd_text, sizeof seccomp_fd_text, "%d", FD_SECCOMP);
    snprintf(prefix_fd_text, sizeof prefix_fd_text, "%d", FD_PREFIX);
    argv_list a = {.n = 0};
    arg(&a, bwrap);
    /* --unshare-user rather than --unshare-all's -try form: without a user namespace, fail */
    static const char *const head[] = {"--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
                                       "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
                                       "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox",
                                       "--ro-bind", "/usr", "/usr"};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) arg(&a, head[i]);
    static const char *const system_dirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
    for (size_t i = 0; i < 6; i++) bind_system_dir(&a, system_dirs[i], links[i], sizeof links[i]);
    /* what programs read from /etc, and nothing that says who uses this machine */
    static const char *const etc_files[] = {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                                            "/etc/localtime", "/etc/alternatives", "/etc/ssl", "/etc/fonts",
                                            "/etc/mime.types"};
    for (size_t i = 0; i < sizeof etc_files / sizeof *etc_files; i++) {
        arg(&a, "--ro-bind-try");
        arg(&a, etc_files[i]);
        arg(&a, etc_files[i]);
    }
    /* /dev read-only but for its shared-memory tmpfs (multiprocessing's semaphores live there) */
    static const char *const tail[] = {"--proc", "/proc", "--dev", "/dev", "--size"};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) arg(&a, tail[i]);
    arg(&a, shm_text);
    arg(&a, "--tmpfs");
    arg(&a, "/dev/shm");
    arg(&a, "--remount-ro");
    arg(&a, "/dev");
    arg(&a, "--size");
    arg(&a, size_text);
    arg(&a, "--tmpfs");
    arg(&a, "/tmp");
    arg(&a, "--bind-fd");
    arg(&a, data_fd_text);
    arg(&a, "/mnt/data");
    if (prefix_fd >= 0) {
        arg(&a, "--ro-bind-fd");
        arg(&a, prefix_fd_text);
        arg(&a, spec->exe_prefix);
    }
    if (file_fd >= 0) {
        arg(&a, "--ro-bind-data");
        arg(&a, file_fd_text);
        arg(&a, spec->file_path);
    }
    /* the sandbox's own root (where bwrap made /etc, /mnt) is a tmpfs: read-only too */
    arg(&a, "--remount-ro");
    arg(&a, "/");
    arg(&a, "--chdir");
    arg(&a, "/mnt/data");
    arg(&a, "--seccomp");
    arg(&a, seccomp_fd_text);
    arg(&a, "--");
    for (size_t i = 0; spec->argv[i]; i++) arg(&a, spec->argv[i]);
    static char *const envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8",
                                 "MPLBACKEND=Agg", "OPENBLAS_NUM_THREADS=4", "OMP_NUM_THREADS=4",
                                 "MKL_NUM_THREADS=4", NULL};

    spawn_request r;
    memset(&r, 0, sizeof r);
    r.argv = a.items;
    r.envp = envp;
    r.bwrap = bwrap;
    r.fds[0] = null_fd;
    r.fds[1] = r.fds[2] = spec->out_fd;
    r.fds[3] = spec->in_fds[0] >= 0 ? spec->in_fds[0] : null_fd;
    r.fds[4] = spec->in_fds[1] >= 0 ? spec->in_fds[1] : null_fd;
    r.fds[FD_DATA] = data_fd;
    r.fds[FD_SECCOMP] = seccomp_fd;
    r.fds[FD_PREFIX] = prefix_fd;
    r.fds[FD_FILE] = file_fd;
    const int resources[5] = {RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_CORE};
    const rlim_t values[5] = {spec->memory_bytes, spec->file_bytes, spec->cpu_s, 1024, 0};
    for (int i = 0; i < 5; i++) {
        r.resources[i] = resources[i];
        r.limits[i].rlim_cur = r.limits[i].rlim_max = values[i];
    }
    r.as_root = geteuid() == 0;
    struct rlimit nofile;
    r.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < (1u << 20)
                   ? (long)nofile.rlim_cur
                   : 1L << 20;
    if (a.full) {
        snprintf(err, err_size, "the sandbox's command line is too long");
        st = GPTOSS_ERR_INVALID_ARGUMENT;
    } else {
        *pid = spawn(&r);
        if (*pid < 0) {
            snprintf(err, err_size, "cannot start the sandbox: %s", strerror(errno));
            st = GPTOSS_ERR_IO;
        }
    }
    close(seccomp_fd);
    close(null_fd);
    if (prefix_fd >= 0) close(prefix_fd);
    if (file_fd >= 0) close(file_fd);
    close(data_fd);
    return st;
#else
    (void)spec;
    return GPTOSS_ERR_UNSUPPORTED;
#endif
}

void gptoss_sandbox_kill(pid_t pid, int *status) {
    int s = 0;
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &s, 0) < 0 && errno == EINTR) {
        }
    }
    if (status) *status = s;
}

void gptoss_sandbox_reap(pid_t pid, double wait_s, int *status) {
    int s = 0;
    for (int waited_ms = 0; pid > 0 && waited_ms < wait_s * 1000; waited_ms += 2) {
        pid_t got = waitpid(pid, &s, WNOHANG);
        if (got == pid) {
            if (status) *status = s;
            return;
        }
        if (got < 0 && errno != EINTR) break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    gptoss_sandbox_kill(pid, status);
}

int gptoss_sandbox_exited(pid_t pid, int *status) {
    int s = 0;
    pid_t got;
    while ((got = waitpid(pid, &s, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (got != pid) return 0;
    if (status) *status = s;
    return 1;
}

int gptoss_sandbox_unreachable(const char *path, const char *what, char *err, size_t err_size) {
    char *p = realpath(path, NULL);
    if (!p) return 0; /* a path that is not there: the caller's own open or stat says so */
    int bad = 0;
    for (char *slash = p; !bad && slash;) {
        char *next = strchr(slash + 1, '/');
        if (next) *next = 0;
        struct stat sb;
        const char *dir = p[0] ? p : "/";
        if (!stat(dir, &sb)) {
            mode_t need = sb.st_uid == GPTOSS_SANDBOX_ROOT_UID   ? S_IXUSR
                          : sb.st_gid == GPTOSS_SANDBOX_ROOT_UID ? S_IXGRP
                                                                 : S_IXOTH;
            if (!(sb.st_mode & need)) {
                snprintf(err, err_size,
                         "as root the sandbox runs as uid %u, which cannot reach %s (%s is not searchable): make "
                         "it searchable (chmod o+x) or use %s elsewhere",
                         GPTOSS_SANDBOX_ROOT_UID, path, dir, what);
                bad = 1;
            }
        }
        if (next) *next = '/';
        slash = next;
    }
    free(p);
    return bad;
}
