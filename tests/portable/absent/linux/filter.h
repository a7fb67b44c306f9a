/* linux/filter.h: absent on macOS (tests/t_portable.sh): an include of it outside a __linux__ guard fails here. */
#error "<linux/filter.h> is Linux-only: include it under #if defined(__linux__)"
