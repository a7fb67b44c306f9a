/* addr_policy.c: the address policy of the browser's page fetches: public unicast addresses pass,
 * everything that reaches this machine, its networks or no host at all is refused. */
#include "tools/addr_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

typedef struct v4_range {
    uint32_t net;
    unsigned bits;
    const char *why;
} v4_range;

/* IANA's special-purpose registry, the ranges that are not globally reachable unicast */
static const v4_range v4_refused[] = {
    {0x00000000u, 8, "\"this network\" (0.0.0.0/8)"},
    {0x0A000000u, 8, "private (10.0.0.0/8)"},
    {0x64400000u, 10, "shared address space (100.64.0.0/10)"},
    {0x7F000000u, 8, "loopback"},
    {0xA9FE0000u, 16, "link-local"},
    {0xAC100000u, 12, "private (172.16.0.0/12)"},
    {0xC0000000u, 24, "IETF protocol assignments (192.0.0.0/24)"},
    {0xC0000200u, 24, "documentation (192.0.2.0/24)"},
    {0xC0586300u, 24, "6to4 relay anycast (192.88.99.0/24)"},
    {0xC0A80000u, 16, "private (192.168.0.0/16)"},
    {0xC6120000u, 15, "benchmarking (198.18.0.0/15)"},
    {0xC6336400u, 24, "documentation (198.51.100.0/24)"},
    {0xCB007100u, 24, "documentation (203.0.113.0/24)"},
    {0xE0000000u, 4, "multicast"},
    {0xF0000000u, 4, "reserved (240.0.0.0/4)"},
};

static int v4_public(uint32_t a, const char **why) {
    for (size_t i = 0; i < sizeof v4_refused / sizeof v4_refused[0]; i++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - v4_refused[i].bits);
        if ((a & mask) == v4_refused[i].net) {
            if (why) *why = v4_refused[i].why;
            return 0;
        }
    }
    return 1;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int v6_public(const uint8_t a[16], const char **why) {
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
    const char *w = NULL;
    if (!memcmp(a, zero, 15) && a[15] <= 1) w = a[15] ? "loopback (::1)" : "unspecified (::)";
    /* the embedded IPv4 address is where the packets go (mapped: this host's IPv4 stack; NAT64 and
     * 6to4: translated to it), so it must pass the IPv4 policy */
    else if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12)) return v4_public(be32(a + 12), why);
    else if (!memcmp(a, zero, 12)) w = "IPv4-compatible (::/96)";
    else if (a[0] == 0x20 && a[1] == 0x02) return v4_public(be32(a + 2), why);
    else if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B && a[4] == 0 && a[5] == 1)
        w = "local-use NAT64 (64:ff9b:1::/48)";
    else if (a[0] == 0x01 && !a[1] && !memcmp(a + 2, zero, 6)) w = "discard-only (100::/64)";
    else if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8) w = "documentation (2001:db8::/32)";
    else if ((a[0] & 0xFE) == 0xFC) w = "unique-local (fc00::/7)";
    else if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) w = "link-local (fe80::/10)";
    else if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) w = "site-local (fec0::/10)";
    else if (a[0] == 0xFF) w = "multicast";
    /* outside 2000::/3 nothing is assigned as global unicast */
    else if ((a[0] & 0xE0) != 0x20) w = "not global unicast (outside 2000::/3)";
    if (w) {
        if (why) *why = w;
        return 0;
    }
    return 1;
}

int gptoss_addr_is_public(const struct sockaddr *sa, size_t len, const char **why) {
    if (why) *why = "not an IP address";
    if (!sa) return 0;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return v4_public(ntohl(s4->sin_addr.s_addr), why);
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return v6_public(s6->sin6_addr.s6_addr, why);
    }
    return 0;
}

int gptoss_addr_text_is_public(const char *text, const char **why) {
    struct in_addr a4;
    struct in6_addr a6;
    if (why) *why = "not an IP address";
    if (!text) return 0;
    if (inet_pton(AF_INET, text, &a4) == 1) return v4_public(ntohl(a4.s_addr), why);
    if (inet_pton(AF_INET6, text, &a6) == 1) return v6_public(a6.s6_addr, why);
    return 0;
}
