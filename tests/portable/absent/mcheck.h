/* mcheck.h: absent on macOS (tests/t_portable.sh): an include of it outside a __linux__ guard fails here. */
#error "<mcheck.h> is Linux-only: include it under #if defined(__linux__)"
