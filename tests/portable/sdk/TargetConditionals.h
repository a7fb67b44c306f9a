/* TargetConditionals.h: stands in for the Apple SDK's header of that name in tests/t_portable.sh
 * (ICU's headers, reached through libxml2's, include it when __APPLE__ is defined): a Mac, not iOS. */
#ifndef TARGET_OS_MAC
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_MACCATALYST 0
#endif
