/* python.c: the python tool (python.h): one sandboxed interpreter per conversation running a small
 * driver (below) that executes cells the way Jupyter does, the framed control channel to it, the
 * capture of its output, time-outs, restarts, and the reply the model reads. */
#include "tools/python.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/common.h"
#include "base/posix.h"
#include "tokenizer/unicode.h"
#include "tools/python_frame.h"
#include "tools/sandbox.h"

/* The driver, written into the sandbox as DRIVER_PATH and run as `python -I -B DRIVER_PATH CAP NPROC`.
 * Cells come on fd 3 (a socket) as frames <kind u8><len u64 LE><body>: kind 1 a cell, kind 2
 * "interrupt cell N" (body N in decimal; a reader thread turns it into SIGINT for the main thread, and
 * the handler raises KeyboardInterrupt only while that cell runs). Results go back on fd 3 as
 * python_frame.h describes. Output never shares that channel: sys.stdout and sys.stderr write to fds 1
 * and 2, one pipe the host reads, so nothing a cell prints can pass for a result; past CAP bytes a
 * cell's Python-level output is only counted. Code that writes to fd 3 on purpose can disturb its own
 * session only: frames carry the cell's number, stale ones are skipped, anything else restarts the
 * interpreter. */
#define DRIVER_PATH "/gptoss/driver.py"
static const char driver_source[] =
    "import ast, builtins, linecache, os, queue, resource, signal, struct, sys, threading, time, traceback, types\n"
    "def _gptoss_driver():\n"
    "    cap, nproc = int(sys.argv[1]), int(sys.argv[2])\n"
    "    # counted per user namespace: the processes of this sandbox only\n"
    "    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))\n"
    "    os.closerange(4, resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    "    os.set_inheritable(3, False)\n"
    "    me = __file__\n"
    "    st = {'written': 0, 'dropped': 0, 'running': 0, 'seq': 0, 'stop': -1}\n"
    "    def send(kind, seq, dropped, cut, text):\n"
    "        b = text.encode('utf-8', 'backslashreplace')\n"
    "        m = struct.pack('<BQQQQ', kind, seq, dropped, cut, len(b)) + b\n"
    "        while m:\n"
    "            m = m[os.write(3, m):]\n"
    "    class Out:\n"
    "        encoding, errors, newlines, closed = 'utf-8', 'backslashreplace', None, False\n"
    "        def __init__(self, fd, name):\n"
    "            self.fd, self.name, self.buffer = fd, name, self\n"
    "        def write(self, s):\n"
    "            if isinstance(s, str):\n"
    "                n = len(s)\n"
    "                if st['written'] >= cap:\n"
    "                    st['dropped'] += n if s.isascii() else len(s.encode('utf-8', 'backslashreplace'))\n"
    "                    return n\n"
    "                b = s.encode('utf-8', 'backslashreplace')\n"
    "            elif isinstance(s, (bytes, bytearray, memoryview)):\n"
    "                b = bytes(s)\n"
    "                n = len(b)\n"
    "            else:\n"
    "                raise TypeError('write() argument must be str, not ' + type(s).__name__)\n"
    "            keep = b[:max(0, cap - st['written'])]\n"
    "            st['written'] += len(keep)\n"
    "            st['dropped'] += len(b) - len(keep)\n"
    "            while keep:\n"
    "                keep = keep[os.write(self.fd, keep):]\n"
    "            return n\n"
    "        def writelines(self, lines):\n"
    "            for x in lines:\n"
    "                self.write(x)\n"
    "        def flush(self):\n"
    "            pass\n"
    "        def fileno(self):\n"
    "            return self.fd\n"
    "        def isatty(self):\n"
    "            return False\n"
    "        def writable(self):\n"
    "            return True\n"
    "        def readable(self):\n"
    "            return False\n"
    "        def seekable(self):\n"
    "            return False\n"
    "    out, err = Out(1, '<stdout>'), Out(2, '<stderr>')\n"
    "    main = types.ModuleType('__main__')\n"
    "    main.__builtins__ = builtins\n"
    "    sys.modules['__main__'] = main\n"
    "    ns = main.__dict__\n"
    "    cells = queue.SimpleQueue()\n"
    "    def on_sigint(signum, frame):\n"
    "        if st['running'] and st['seq'] == st['stop']:\n"
    "            raise KeyboardInterrupt\n"
    "    signal.signal(signal.SIGINT, on_sigint)\n"
    "    main_id = threading.main_thread().ident\n"
    "    def readn(n):\n"
    "        b = b''\n"
    "        while len(b) < n:\n"
    "            c = os.read(3, n - len(b))\n"
    "            if not c:\n"
    "                os._exit(0)\n"
    "            b += c\n"
    "        return b\n"
    "    def reader():\n"
    "        while True:\n"
    "            kind, n = struct.unpack('<BQ', readn(9))\n"
    "            body = readn(n)\n"
    "            if kind == 1:\n"
    "                cells.put(body)\n"
    "            elif kind == 2:\n"
    "                st['stop'] = int(body)\n"
    "                try:\n"
    "                    signal.pthread_kill(main_id, signal.SIGINT)\n"
    "                except OSError:\n"
    "                    os._exit(70)  # no main thread left to interrupt\n"
    "    threading.Thread(target=reader, daemon=True).start()\n"
    "    def shown(e):\n"
    "        te = traceback.TracebackException(type(e), e, e.__traceback__)\n"
    "        t, seen = te, set()\n"
    "        while t is not None and id(t) not in seen:\n"
    "            seen.add(id(t))\n"
    "            t.stack = traceback.StackSummary.from_list([f for f in t.stack if f.filename != me])\n"
    "            t = t.__cause__ or t.__context__\n"
    "        return ''.join(te.format())\n"
    "    def stop_others():\n"
    "        # a timed-out cell's processes (a fork bomb) end with it: all but this one and PID 1;\n"
    "        # again while forks in flight when kill(-1) went by leave new ones\n"
    "        me_pid = str(os.getpid())\n"
    "        for _ in range(200):\n"
    "            try:\n"
    "                os.kill(-1, signal.SIGKILL)\n"
    "            except OSError:\n"
    "                pass\n"
    "            while True:\n"
    "                try:\n"
    "                    if os.waitpid(-1, os.WNOHANG)[0] == 0:\n"
    "                        break\n"
    "                except OSError:\n"
    "                    break\n"
    "            try:\n"
    "                left = [p for p in os.listdir('/proc') if p.isdigit() and p not in ('1', me_pid)]\n"
    "            except OSError:\n"
    "                left = []\n"
    "            if not left:\n"
    "                break\n"
    "            time.sleep(0.005)\n"
    "    def run(src, name):\n"
    "        try:\n"
    "            tree = ast.parse(src, name, 'exec')\n"
    "            last = None\n"
    "            if tree.body and isinstance(tree.body[-1], ast.Expr):\n"
    "                last = compile(ast.Expression(tree.body.pop().value), name, 'eval', dont_inherit=True)\n"
    "            body = compile(tree, name, 'exec', dont_inherit=True)\n"
    "        except BaseException as e:\n"
    "            return 1, shown(e)\n"
    "        try:\n"
    "            st['running'] = 1\n"
    "            try:\n"
    "                exec(body, ns)\n"
    "                value = eval(last, ns) if last is not None else None\n"
    "            finally:\n"
    "                st['running'] = 0\n"
    "            if value is None:\n"
    "                return 0, ''\n"
    "            builtins._ = value\n"
    "            return 0, repr(value)\n"
    "        except KeyboardInterrupt as e:\n"
    "            if st['stop'] == st['seq']:\n"
    "                stop_others()\n"
    "            return 2, shown(e)\n"
    "        except BaseException as e:\n"
    "            return 1, shown(e)\n"
    "    pid = os.getpid()\n"
    "    send(3, 0, 0, 0, '')\n"
    "    while True:\n"
    "        src = cells.get().decode('utf-8', 'replace')\n"
    "        st['seq'] += 1\n"
    "        name = '<cell %d>' % st['seq']\n"
    "        linecache.cache[name] = (len(src), None, src.splitlines(True), name)\n"
    "        st['written'] = st['dropped'] = 0\n"
    "        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = out, err, out, err\n"
    "        kind, text = run(src, name)\n"
    "        if os.getpid() != pid:\n"
    "            os._exit(0)  # a child forked by the cell came back here\n"
    "        for f in (sys.stdout, sys.stderr):\n"
    "            try:\n"
    "                f.flush()\n"
    "            except BaseException:\n"
    "                pass\n"
    "        b = text.encode('utf-8', 'backslashreplace')\n"
    "        cut = 0\n"
    "        if len(b) > cap:\n"
    "            cut = len(b) - cap\n"
    "            b = b[:cap] if kind == 0 else b[-cap:]\n"
    "        send(kind, st['seq'], st['dropped'], cut, b.decode('utf-8', 'ignore'))\n"
    "_gptoss_driver()\n";

enum { KIND_CELL = 1, KIND_INTERRUPT = 2 };
#define START_TIMEOUT_S 20.0
#define INTERRUPT_GRACE_S 2.0

struct gptoss_python {
    char *exe, *exe_prefix, *data_dir;
    int own_data_dir;
    double timeout_s;
    size_t max_reply_bytes, memory_bytes, file_bytes;
    unsigned max_processes;
    pid_t pid;      /* bwrap, or -1 when no interpreter runs */
    int ctl, out;   /* the control socket and the output pipe's read end */
    uint64_t n_cells; /* cells sent to this interpreter */
    gptoss_buf ctl_buf; /* bytes from the control socket not parsed yet */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void resolve_options(const gptoss_python_options *o, gptoss_python_options *r) {
    memset(r, 0, sizeof *r);
    if (o) *r = *o;
    if (!r->python_exe) r->python_exe = "/usr/bin/python3";
    if (!(r->timeout_s > 0)) r->timeout_s = 120.0;
    if (!r->max_reply_bytes) r->max_reply_bytes = 16 << 10;
    if (r->max_reply_bytes < 256) r->max_reply_bytes = 256; /* room for the notes */
    if (!r->memory_bytes) r->memory_bytes = (size_t)4 << 30;
    if (!r->file_bytes) r->file_bytes = (size_t)1 << 30;
    if (!r->max_processes) r->max_processes = 64;
    if (r->max_processes < 4) r->max_processes = 4; /* bwrap's PID 1, the driver and its reader thread */
}

/* The interpreter's install prefix when it lives outside the directories every sandbox has (a venv
 * under /opt): bound read-only so it can run. NULL when none is needed; "" when it cannot be. */
static char *exe_prefix_of(const char *exe) {
    static const char *const system[] = {"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/"};
    for (size_t i = 0; i < sizeof system / sizeof *system; i++)
        if (!strncmp(exe, system[i], strlen(system[i]))) return NULL;
    char *p = strdup(exe);
    if (!p) return strdup("");
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            p[0] = 0;
            return p;
        }
        *slash = 0;
    }
    return p;
}

static gptoss_status check_exe(const char *exe, char *err, size_t err_size) {
    if (exe[0] != '/') {
        snprintf(err, err_size, "python_exe must be an absolute path: %s", exe);
        return GPTOSS_ERR_INVALID_ARGUMENT;
    }
    if (access(exe, X_OK)) {
        snprintf(err, err_size, "%s: %s (install python3, or set the interpreter)", exe, strerror(errno));
        return GPTOSS_ERR_UNSUPPORTED;
    }
    return GPTOSS_OK;
}

static void stop_interpreter(gptoss_python *py, int *status) {
    if (py->ctl >= 0) close(py->ctl);
    if (py->out >= 0) close(py->out);
    py->ctl = py->out = -1;
    gptoss_sandbox_kill(py->pid, status);
    py->pid = -1;
}

/* Appends what the output pipe holds now (non-blocking, at most 1 MiB a call, so that a process that
 * writes without end cannot keep the caller from its deadline) to buf, keeping `cap` bytes and
 * counting the rest in *dropped. Returns 0 at EOF, 1 otherwise. */
static int drain_output(int fd, gptoss_buf *buf, size_t cap, uint64_t *dropped) {
    char chunk[65536];
    for (int n_chunks = 0; n_chunks < 16; n_chunks++) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            size_t room = buf->len < cap ? cap - buf->len : 0;
            size_t keep = (size_t)n < room ? (size_t)n : room;
            gptoss_buf_append(buf, chunk, keep);
            *dropped += (size_t)n - keep;
            continue;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        return 1; /* EAGAIN, or an error the next poll reports */
    }
    return 1;
}

/* Sends one frame by the deadline: 0, or -1 when the socket failed or the driver did not read it in
 * time (a wedged interpreter must not block the caller past its time-out). */
static int send_frame(int fd, int kind, const void *body, size_t len, double deadline) {
    unsigned char head[9];
    head[0] = (unsigned char)kind;
    for (int i = 0; i < 8; i++) head[1 + i] = (unsigned char)((uint64_t)len >> (8 * i));
    struct part {
        const void *p;
        size_t n;
    } parts[2] = {{head, 9}, {body, len}};
    for (int p = 0; p < 2; p++) {
        const char *s = parts[p].p;
        size_t left = parts[p].n;
        while (left) {
            ssize_t n = send(fd, s, left, GPTOSS_MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                double wait = deadline - now_s();
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                if (wait <= 0 || (poll(&pf, 1, (int)(wait * 1000) + 1) < 0 && errno != EINTR)) return -1;
                continue;
            }
            if (n <= 0) return -1;
            s += n;
            left -= (size_t)n;
        }
    }
    return 0;
}

typedef struct result {
    int kind;         /* GPTOSS_PYTHON_*, or -1: none came */
    uint64_t dropped; /* output the driver only counted */
    uint64_t cut;     /* bytes of text the driver cut */
    gptoss_buf text;
} result;

enum wait_end { WAIT_RESULT, WAIT_DEAD, WAIT_DEADLINE, WAIT_MALFORMED };

/* Reads output and the control socket until the frame answering cell `seq` (0: the ready frame)
 * arrived, the interpreter is gone, or the deadline passed. */
static enum wait_end wait_result(gptoss_python *py, uint64_t seq, double deadline, result *res, gptoss_buf *out,
                                 uint64_t *out_dropped) {
    gptoss_buf *ctl = &py->ctl_buf;
    size_t max_text = py->max_reply_bytes + 64;
    for (;;) {
        gptoss_python_frame f;
        long n;
        while ((n = gptoss_python_frame_parse((const unsigned char *)ctl->data, ctl->len, max_text, &f)) > 0) {
            int wanted = f.seq == seq && (seq == 0) == (f.kind == GPTOSS_PYTHON_READY);
            if (f.seq > seq || (f.seq == seq && !wanted)) return WAIT_MALFORMED;
            if (wanted) {
                res->kind = f.kind;
                res->dropped = f.dropped;
                res->cut = f.cut;
                gptoss_buf_append(&res->text, f.text, f.text_len);
            }
            /* consumed; an older cell's frame (after a forged one) is skipped */
            memmove(ctl->data, ctl->data + n, ctl->len - (size_t)n);
            ctl->len -= (size_t)n;
            if (wanted) return res->text.failed ? WAIT_MALFORMED : WAIT_RESULT;
        }
        if (n < 0) return WAIT_MALFORMED;
        double left = deadline - now_s();
        if (left <= 0) return WAIT_DEADLINE;
        struct pollfd p[2] = {{.fd = py->ctl, .events = POLLIN}, {.fd = py->out, .events = POLLIN}};
        int k = poll(p, 2, (int)(left * 1000) + 1);
        if (k < 0 && errno != EINTR) return WAIT_DEAD;
        if (k <= 0) continue;
        if (p[1].revents) drain_output(py->out, out, py->max_reply_bytes, out_dropped);
        if (p[0].revents) {
            char chunk[65536];
            ssize_t got = recv(py->ctl, chunk, sizeof chunk, 0);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got <= 0) return WAIT_DEAD;
            gptoss_buf_append(ctl, chunk, (size_t)got);
            if (ctl->failed) return WAIT_MALFORMED;
        }
    }
}

/* After the interpreter died: the rest of what it printed, until every writer is gone (the sandbox's
 * other processes die with its PID 1 a moment after bwrap) or a short wait ends. */
static void drain_until_eof(int fd, gptoss_buf *buf, size_t cap, uint64_t *dropped) {
    double deadline = now_s() + 0.5;
    while (drain_output(fd, buf, cap, dropped)) {
        double left = deadline - now_s();
        if (left <= 0) return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left * 1000) + 1) == 0) return;
    }
}

/* Starts an interpreter; on failure err holds one line (with the sandbox's own message if it printed
 * one). */
static gptoss_status start_interpreter(gptoss_python *py, char *err, size_t err_size) {
    int sv[2] = {-1, -1}, pipe_fds[2] = {-1, -1};
    if (gptoss_fd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv, 0) || gptoss_fd_pipe(pipe_fds, 0)) {
        snprintf(err, err_size, "cannot make the sandbox's channels: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (sv[i] >= 0) close(sv[i]);
            if (pipe_fds[i] >= 0) close(pipe_fds[i]);
        }
        return GPTOSS_ERR_IO;
    }
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    char cap_text[32], nproc_text[16];
    snprintf(cap_text, sizeof cap_text, "%zu", py->max_reply_bytes);
    snprintf(nproc_text, sizeof nproc_text, "%u", py->max_processes);
    const char *argv[] = {py->exe, "-I", "-B", DRIVER_PATH, cap_text, nproc_text, NULL};
    gptoss_sandbox_spec spec = {
        .argv = argv,
        .data_dir = py->data_dir,
        .file_path = DRIVER_PATH,
        .file_data = driver_source,
        .file_len = sizeof driver_source - 1,
        .exe_prefix = py->exe_prefix,
        .memory_bytes = py->memory_bytes,
        .file_bytes = py->file_bytes,
        .cpu_s = (size_t)(py->timeout_s * 30 > 3600 ? py->timeout_s * 30 : 3600),
        .in_fds = {sv[1], -1},
        .out_fd = pipe_fds[1],
    };
    gptoss_status st = gptoss_sandbox_start(&spec, &py->pid, err, err_size);
    close(sv[1]);
    close(pipe_fds[1]);
    py->ctl = sv[0];
    py->out = pipe_fds[0];
    py->n_cells = 0;
    py->ctl_buf.len = 0;
    if (st != GPTOSS_OK) {
        stop_interpreter(py, NULL);
        return st;
    }
    gptoss_buf out = {0};
    result res = {.kind = -1};
    uint64_t dropped = 0;
    enum wait_end end = wait_result(py, 0, now_s() + START_TIMEOUT_S, &res, &out, &dropped);
    if (end == WAIT_RESULT && res.kind == GPTOSS_PYTHON_READY) {
        st = GPTOSS_OK;
    } else {
        int status = 0;
        if (end != WAIT_DEADLINE) { /* its real status, and what bwrap or python said before dying */
            gptoss_sandbox_reap(py->pid, 1.0, &status);
            py->pid = -1;
            drain_until_eof(py->out, &out, 4096, &dropped);
        } else {
            drain_output(py->out, &out, 4096, &dropped);
        }
        stop_interpreter(py, end == WAIT_DEADLINE ? &status : NULL);
        /* its last line: bwrap's one-line error, or the exception that ended a traceback */
        const char *said = gptoss_buf_cstr(&out);
        size_t len = said ? strlen(said) : 0;
        while (len && (said[len - 1] == '\n' || said[len - 1] == '\r')) len--;
        size_t at = len;
        while (at && said[at - 1] != '\n') at--;
        said = said ? said + at : NULL;
        size_t line = len - at;
        if (line > 300) line = 300;
        if (line)
            snprintf(err, err_size, "the python sandbox did not start: %.*s", (int)line, said);
        else if (end == WAIT_DEADLINE)
            snprintf(err, err_size, "the python sandbox did not start within %.0f s", START_TIMEOUT_S);
        else
            snprintf(err, err_size, "the python sandbox did not start (exit status %d)",
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        st = GPTOSS_ERR_UNSUPPORTED;
    }
    gptoss_buf_free(&out);
    gptoss_buf_free(&res.text);
    return st;
}

gptoss_status gptoss_python_create(const gptoss_python_options *options, gptoss_python **out, char *err,
                                   size_t err_size) {
    *out = NULL;
    gptoss_python_options o;
    resolve_options(options, &o);
    gptoss_status st = check_exe(o.python_exe, err, err_size);
    if (st != GPTOSS_OK) return st;
    if ((st = gptoss_sandbox_available(err, err_size)) != GPTOSS_OK) return st;
    gptoss_python *py = calloc(1, sizeof *py);
    if (!py) {
        snprintf(err, err_size, "out of memory");
        return GPTOSS_ERR_NO_MEMORY;
    }
    py->pid = -1;
    py->ctl = py->out = -1;
    py->timeout_s = o.timeout_s;
    py->max_reply_bytes = o.max_reply_bytes;
    py->memory_bytes = o.memory_bytes;
    py->file_bytes = o.file_bytes;
    py->max_processes = o.max_processes;
    py->exe = strdup(o.python_exe);
    py->exe_prefix = exe_prefix_of(o.python_exe);
    if (o.data_dir) {
        py->data_dir = strdup(o.data_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        char templ[PATH_MAX], ignored[256];
        if (!tmp || *tmp != '/') tmp = "/tmp";
        /* as root a private $TMPDIR (a 0700 folder) cannot be reached by the sandbox's uid: /tmp can */
        if (geteuid() == 0 && gptoss_sandbox_unreachable(tmp, "", ignored, sizeof ignored)) tmp = "/tmp";
        snprintf(templ, sizeof templ, "%s/gptoss-python-XXXXXX", tmp);
        if (mkdtemp(templ)) {
            py->data_dir = strdup(templ);
            py->own_data_dir = 1;
            if (!py->data_dir) rmdir(templ);
        } else {
            snprintf(err, err_size, "cannot make a data directory in %s: %s", tmp, strerror(errno));
            gptoss_python_free(py);
            return GPTOSS_ERR_IO;
        }
    }
    if (!py->exe || !py->data_dir || (py->exe_prefix && !py->exe_prefix[0])) {
        if (py->exe_prefix && !py->exe_prefix[0])
            snprintf(err, err_size, "%s: the interpreter must live in a directory below / (like /opt/venv/bin)",
                     o.python_exe);
        else
            snprintf(err, err_size, "out of memory");
        gptoss_python_free(py);
        return GPTOSS_ERR_INVALID_ARGUMENT;
    }
    if (!py->own_data_dir && mkdir(py->data_dir, 0700) && errno != EEXIST) {
        snprintf(err, err_size, "%s: %s", py->data_dir, strerror(errno));
        gptoss_python_free(py);
        return GPTOSS_ERR_IO;
    }
    struct stat sb;
    if (stat(py->data_dir, &sb) || !S_ISDIR(sb.st_mode)) {
        snprintf(err, err_size, "%s: not a directory", py->data_dir);
        gptoss_python_free(py);
        return GPTOSS_ERR_IO;
    }
    /* as root the sandbox runs as nobody (sandbox.h), which must be able to write its files */
    if (geteuid() == 0 && sb.st_uid != GPTOSS_SANDBOX_ROOT_UID &&
        chown(py->data_dir, GPTOSS_SANDBOX_ROOT_UID, GPTOSS_SANDBOX_ROOT_UID)) {
        snprintf(err, err_size, "%s: cannot give it to the sandbox's uid %u: %s", py->data_dir,
                 GPTOSS_SANDBOX_ROOT_UID, strerror(errno));
        gptoss_python_free(py);
        return GPTOSS_ERR_IO;
    }
    if (geteuid() == 0 && (gptoss_sandbox_unreachable(py->data_dir, "a data directory", err, err_size) ||
                           (py->exe_prefix && gptoss_sandbox_unreachable(py->exe_prefix, "an interpreter", err, err_size)))) {
        gptoss_python_free(py);
        return GPTOSS_ERR_IO;
    }
    *out = py;
    return GPTOSS_OK;
}

void gptoss_python_free(gptoss_python *py) {
    if (!py) return;
    stop_interpreter(py, NULL);
    gptoss_buf_free(&py->ctl_buf);
    /* the sandbox's last processes may still run a moment after bwrap is reaped: a symlink they swap in
     * for a folder must not lead the removal out of the data directory */
    if (py->own_data_dir && py->data_dir) gptoss_path_remove_tree(py->data_dir);
    free(py->exe);
    free(py->exe_prefix);
    free(py->data_dir);
    free(py);
}

const char *gptoss_python_data_dir(const gptoss_python *py) {
    return py ? py->data_dir : NULL;
}

gptoss_status gptoss_python_check(const gptoss_python_options *options, char *err, size_t err_size) {
    gptoss_python_options o;
    resolve_options(options, &o);
    o.data_dir = NULL; /* a throwaway directory: the check must not touch the user's */
    gptoss_python *py = NULL;
    gptoss_status st = gptoss_python_create(&o, &py, err, err_size);
    if (st != GPTOSS_OK) return st;
    st = start_interpreter(py, err, err_size);
    gptoss_python_free(py);
    return st;
}

/* Appends s[0..n) with each invalid UTF-8 sequence replaced by U+FFFD: the reply goes to the
 * tokenizer and into JSON. */
static void append_utf8(gptoss_buf *b, const char *s, size_t n) {
    if (!n) return; /* s may be NULL then (an empty buffer) */
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = gptoss_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp != 0xFFFFFFFFu) {
            i += len;
            continue;
        }
        gptoss_buf_append(b, s + run, i - run);
        gptoss_buf_append(b, "\xEF\xBF\xBD", 3);
        i += len;
        run = i;
    }
    gptoss_buf_append(b, s + run, n - run);
}

/* A cut of s[0..n) at most `keep` bytes long that does not split a UTF-8 sequence: from the start
 * (head) or up to the end. */
static size_t utf8_head(const char *s, size_t n, size_t keep) {
    if (keep >= n) return n;
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) keep--;
    return keep;
}
static size_t utf8_tail_start(const char *s, size_t n, size_t keep) {
    if (keep >= n) return 0;
    size_t at = n - keep;
    while (at < n && ((unsigned char)s[at] & 0xC0) == 0x80) at++;
    return at;
}

/* The reply: output, then the repr or traceback, within max_reply_bytes; a note says what was cut. */
static void compose(const gptoss_python *py, gptoss_buf *reply, const gptoss_buf *out, uint64_t out_dropped,
                    const result *res) {
    size_t max = py->max_reply_bytes - 128; /* room for the notes */
    size_t out_len = out->len, text_len = res->text.len;
    size_t out_keep = out_len, text_keep = text_len;
    if (out_keep + text_keep > max) {
        /* the value or traceback gets what the output leaves, and at least half when both are long */
        size_t text_budget = out_len < max / 2 ? max - out_len : max / 2;
        text_keep = text_len < text_budget ? text_len : text_budget;
        out_keep = out_len < max - text_keep ? out_len : max - text_keep;
    }
    out_keep = utf8_head(out->data, out_len, out_keep);
    uint64_t out_total = out_len + out_dropped, out_cut = out_total - out_keep;
    append_utf8(reply, out->data, out_keep);
    if (out_cut) {
        if (out_keep && out->data[out_keep - 1] != '\n') gptoss_buf_puts(reply, "\n");
        gptoss_buf_printf(reply, "[output truncated: %llu of %llu bytes not shown]\n", (unsigned long long)out_cut,
                          (unsigned long long)out_total);
    }
    if (!text_len) return;
    uint64_t text_total = text_len + res->cut;
    if (res->kind == GPTOSS_PYTHON_DONE) { /* a repr: its beginning */
        size_t keep = utf8_head(res->text.data, text_len, text_keep);
        append_utf8(reply, res->text.data, keep);
        if (text_total > keep)
            gptoss_buf_printf(reply, "\n[value truncated: %llu of %llu bytes not shown]",
                              (unsigned long long)(text_total - keep), (unsigned long long)text_total);
    } else { /* a traceback: its end, where the exception is */
        size_t at = utf8_tail_start(res->text.data, text_len, text_keep);
        if (text_total > text_len - at)
            gptoss_buf_printf(reply, "[traceback truncated: the first %llu of %llu bytes not shown]\n",
                              (unsigned long long)(text_total - (text_len - at)), (unsigned long long)text_total);
        append_utf8(reply, res->text.data + at, text_len - at);
    }
}

static void describe_status(gptoss_buf *b, int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        gptoss_buf_printf(b, "killed by signal %d (%s)", sig, strsignal(sig));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) > 128) {
        /* bwrap reports a command killed by a signal as 128 + the signal */
        int sig = WEXITSTATUS(status) - 128;
        gptoss_buf_printf(b, "killed by signal %d (%s)", sig, strsignal(sig));
    } else {
        gptoss_buf_printf(b, "exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

static const char lost_state[] =
    "a new interpreter will run the next call: variables, imports and definitions from earlier calls are "
    "lost; files in /mnt/data are kept.]";

gptoss_status gptoss_python_call(gptoss_python *py, const char *code, size_t code_len, char **reply) {
    *reply = NULL;
    if (!py || (!code && code_len)) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_buf r = {0};
    int died_between = 0, between_status = 0;
    if (py->pid > 0 && gptoss_sandbox_exited(py->pid, &between_status)) {
        /* it died after the last call (a thread of its own called os._exit, something killed it):
         * this cell runs in a new one, and the model hears why its state is gone */
        py->pid = -1;
        stop_interpreter(py, NULL);
        died_between = 1;
    }
    if (py->pid < 0) {
        char err[512];
        if (died_between) {
            gptoss_buf_puts(&r, "[The Python interpreter had died since the last call (");
            describe_status(&r, between_status);
            gptoss_buf_puts(&r, "); this call ran in a new one: variables, imports and definitions from earlier "
                                "calls are lost; files in /mnt/data are kept.]\n");
        }
        if (start_interpreter(py, err, sizeof err) != GPTOSS_OK) {
            gptoss_buf_printf(&r, "[The python tool is unavailable: %s]", err);
            goto done;
        }
    }
    py->n_cells++;
    gptoss_buf out = {0};
    result res = {.kind = -1};
    uint64_t out_dropped = 0;
    /* what background work printed since the last call is this call's first output, as in Jupyter */
    drain_output(py->out, &out, py->max_reply_bytes, &out_dropped);
    enum wait_end end = WAIT_DEAD;
    int interrupted = 0, status = 0;
    double deadline = now_s() + py->timeout_s;
    if (send_frame(py->ctl, KIND_CELL, code, code_len, deadline) == 0) {
        end = wait_result(py, py->n_cells, deadline, &res, &out, &out_dropped);
        if (end == WAIT_DEADLINE) {
            char seq[24];
            int n = snprintf(seq, sizeof seq, "%llu", (unsigned long long)py->n_cells);
            interrupted = 1;
            if (send_frame(py->ctl, KIND_INTERRUPT, seq, (size_t)n, now_s() + INTERRUPT_GRACE_S) == 0)
                end = wait_result(py, py->n_cells, now_s() + INTERRUPT_GRACE_S, &res, &out, &out_dropped);
        }
    } else if (now_s() >= deadline) {
        end = WAIT_DEADLINE; /* alive but not reading its cells (C code holding the GIL) */
    }
    if (end == WAIT_RESULT) {
        drain_output(py->out, &out, py->max_reply_bytes, &out_dropped);
    } else {
        /* a dead interpreter's bwrap exits by itself: wait a little for its real status */
        gptoss_sandbox_reap(py->pid, end == WAIT_DEAD ? 1.0 : 0.0, &status);
        py->pid = -1;
        drain_until_eof(py->out, &out, py->max_reply_bytes, &out_dropped);
        stop_interpreter(py, NULL);
    }
    res.dropped += out_dropped;
    if (end == WAIT_RESULT) {
        compose(py, &r, &out, res.dropped, &res);
        if (res.kind == GPTOSS_PYTHON_INTERRUPTED && interrupted)
            gptoss_buf_printf(&r, "%s[The call timed out after %g seconds and was interrupted (KeyboardInterrupt); "
                                  "processes it started were ended; the interpreter keeps its state.]",
                              r.len && r.data[r.len - 1] != '\n' ? "\n" : "", py->timeout_s);
    } else {
        compose(py, &r, &out, out_dropped, &res);
        if (r.len && r.data[r.len - 1] != '\n') gptoss_buf_puts(&r, "\n");
        if (end == WAIT_DEADLINE)
            gptoss_buf_printf(&r, "[The call timed out after %g seconds and did not stop when interrupted: the "
                                  "Python interpreter was killed; %s",
                              py->timeout_s, lost_state);
        else if (end == WAIT_MALFORMED) {
            gptoss_buf_printf(&r, "[The Python interpreter's driver was disturbed (its control channel carried "
                                  "something else) and was killed; %s",
                              lost_state);
        } else {
            gptoss_buf_puts(&r, "[The Python interpreter died (");
            describe_status(&r, status);
            gptoss_buf_printf(&r, "); %s", lost_state);
        }
    }
    gptoss_buf_free(&out);
    gptoss_buf_free(&res.text);
done:
    if (!gptoss_buf_cstr(&r)) {
        gptoss_buf_free(&r);
        return GPTOSS_ERR_NO_MEMORY;
    }
    *reply = r.data;
    return GPTOSS_OK;
}
