/* test_addr_policy.c: the browser's address policy (src/tools/addr_policy.c) on the edges of every
 * refused range, the IPv6 forms that embed an IPv4 address, and addresses that must pass. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "tap.h"
#include "tools/addr_policy.h"

static void expect(const char *addr, int want) {
    const char *why = NULL;
    int got = gptoss_addr_text_is_public(addr, &why);
    tap_check(got == want, "%s is %s%s%s", addr, want ? "public" : "refused", got ? "" : ": ", got ? "" : why);
}

int main(void) {
    static const char *const refused[] = {
        "0.0.0.0", "0.255.255.255", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255",
        "127.0.0.1", "127.255.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8",
        "192.0.2.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1", "::ffff:127.0.0.1",
        "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a00:1", "64:ff9b::7f00:1",
        "64:ff9b:1::1", "2002:7f00:1::1", "2002:c0a8:101::1", "100::1", "2001:db8::1", "fc00::1",
        "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff0e::1", "4000::1", "not an address",
        "",
    };
    static const char *const allowed[] = {
        "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255", "100.128.0.1", "126.255.255.255",
        "128.0.0.1", "169.253.0.1", "172.15.255.255", "172.32.0.1", "192.0.1.1", "192.167.255.255",
        "192.169.0.1", "198.17.255.255", "198.20.0.1", "223.255.255.255", "::ffff:8.8.8.8",
        "64:ff9b::808:808", "2002:808:808::1", "2001:4860:4860::8888", "2606:4700::1111", "2a00:1450::1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) expect(refused[i], 0);
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) expect(allowed[i], 1);

    struct sockaddr_in s4;
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    inet_pton(AF_INET, "8.8.8.8", &s4.sin_addr);
    tap_check(gptoss_addr_is_public((const struct sockaddr *)&s4, sizeof s4, NULL) == 1, "sockaddr_in 8.8.8.8 passes");
    tap_check(gptoss_addr_is_public((const struct sockaddr *)&s4, sizeof s4 - 1, NULL) == 0,
              "a truncated sockaddr is refused");
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.0.1", &s6.sin6_addr);
    const char *why = NULL;
    tap_check(gptoss_addr_is_public((const struct sockaddr *)&s6, sizeof s6, &why) == 0 && why &&
                  strstr(why, "192.168"),
              "sockaddr_in6 ::ffff:192.168.0.1 refused as private (%s)", why ? why : "");
    struct sockaddr unix_like = {.sa_family = AF_UNIX};
    tap_check(gptoss_addr_is_public(&unix_like, sizeof unix_like, NULL) == 0, "another family is refused");
    tap_check(gptoss_addr_is_public(NULL, 0, NULL) == 0, "NULL is refused");
    return tap_n_failed ? 1 : 0;
}
