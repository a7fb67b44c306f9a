/* macos.h: forced into every file by tests/t_portable.sh (gcc -include) to make a glibc system look,
 * to the compiler, like one without Linux: what macOS (and most other POSIX systems) lack is made
 * undefined or poisoned, so a use outside a __linux__ guard fails to compile here, as it would on a
 * Mac. Only a proxy: glibc's headers still declare what macOS would, and Apple's own headers are
 * stood in for by tests/portable/sdk/. */
#ifndef GPTOSS_TEST_PORTABLE_MACOS_H
#define GPTOSS_TEST_PORTABLE_MACOS_H

/* The headers that declare the names poisoned below, read first: poison applies to what comes after
 * it, and these include guards keep them from being read again. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A Mac's compiler: no Linux, and the macros Apple's clang defines (arm64 is set by the compiler
 * that runs this check: gcc on x86-64, or the aarch64 cross compiler). */
#undef __linux__
#undef __linux
#undef __gnu_linux__
#undef linux
#ifndef __APPLE__
#define __APPLE__ 1
#endif
#ifndef __MACH__
#define __MACH__ 1
#endif

/* What Apple's <string.h> declares but glibc's only under _GNU_SOURCE (which this check leaves off). */
void *memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);
char *strcasestr(const char *haystack, const char *needle);

/* Linux macros that code may test with #ifdef (so they are undefined, not poisoned): macOS has none
 * of them. */
#undef MADV_HUGEPAGE
#undef MADV_NOHUGEPAGE
#undef MADV_DONTDUMP
#undef MADV_REMOVE
#undef MAP_POPULATE
#undef MAP_HUGETLB
#undef MAP_LOCKED
#undef MAP_GROWSDOWN
#undef MAP_FIXED_NOREPLACE
#undef O_DIRECT
#undef O_PATH
#undef O_TMPFILE
#undef O_NOATIME
#undef O_LARGEFILE
#undef F_SETPIPE_SZ
#undef F_GETPIPE_SZ
#undef CLOCK_BOOTTIME
#undef CLOCK_MONOTONIC_COARSE
#undef CLOCK_REALTIME_COARSE
#undef TCP_KEEPIDLE
#undef TCP_USER_TIMEOUT
#undef TCP_QUICKACK
#undef TCP_CORK
#undef SO_BINDTODEVICE
#undef SO_PEERCRED
#undef SO_PASSCRED
#undef SOL_TCP
#undef RLIMIT_RTPRIO
#undef RLIMIT_RTTIME
#undef RLIMIT_LOCKS
#undef RLIMIT_SIGPENDING
#undef RLIMIT_MSGQUEUE
#undef RLIMIT_NICE
#undef SYS_arch_prctl
#undef SYS_gettid
#undef SYS_getrandom
#undef SYS_memfd_create
#undef SYS_close_range
#undef SYS_pidfd_open

/* glibc's enum constants (each also a macro naming itself) and the functions macOS does not have,
 * or has with another signature (sendfile, qsort_r, pthread_setname_np): any use is an error. */
#undef SOCK_CLOEXEC
#undef SOCK_NONBLOCK
#undef MSG_NOSIGNAL
#undef MSG_MORE
#undef MSG_CMSG_CLOEXEC
#undef MSG_FASTOPEN
#undef MSG_ZEROCOPY
#pragma GCC poison SOCK_CLOEXEC SOCK_NONBLOCK MSG_NOSIGNAL MSG_MORE MSG_CMSG_CLOEXEC MSG_FASTOPEN MSG_ZEROCOPY
#pragma GCC poison pipe2 accept4 dup3 ppoll syncfs
#pragma GCC poison sched_getaffinity sched_setaffinity sched_getcpu pthread_getaffinity_np pthread_setaffinity_np
#pragma GCC poison pthread_getattr_np pthread_tryjoin_np pthread_timedjoin_np pthread_setname_np
#pragma GCC poison pthread_condattr_setclock pthread_mutex_timedlock pthread_rwlock_timedrdlock pthread_rwlock_timedwrlock
#pragma GCC poison pthread_spin_init pthread_spin_lock pthread_spin_unlock pthread_spin_destroy
#pragma GCC poison pthread_barrier_init pthread_barrier_wait pthread_barrier_destroy
#pragma GCC poison clock_nanosleep timer_create timer_settime timer_delete sem_timedwait sem_clockwait
#pragma GCC poison sigtimedwait sigwaitinfo
#pragma GCC poison memfd_create close_range copy_file_range statx sendfile splice tee vmsplice
#pragma GCC poison fallocate posix_fallocate posix_fadvise readahead sync_file_range mremap
#pragma GCC poison getrandom syscall gettid execvpe clearenv secure_getenv getresuid getresgid setresuid setresgid
#pragma GCC poison memrchr mempcpy rawmemchr strchrnul strverscmp explicit_bzero qsort_r
#pragma GCC poison get_nprocs get_nprocs_conf malloc_usable_size malloc_trim mallopt
#pragma GCC poison unshare setns clone prctl getauxval
/* struct stat's timespec fields are st_mtimespec etc. on macOS (st_mtime, a macro defined above, stays
 * usable) */
#pragma GCC poison st_mtim st_atim st_ctim

#endif
