/* addr_policy.h: which network addresses the browser may open a page from when the model asks for
 * one: public unicast only, so a page request cannot reach the machine itself or its private network
 * (server-side request forgery). */
#ifndef GPTOSS_TOOLS_ADDR_POLICY_H
#define GPTOSS_TOOLS_ADDR_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

/* 1 when sa (AF_INET or AF_INET6, len bytes) is a public unicast address; 0 for loopback, private
 * (RFC 1918), CGNAT, link-local, unique-local, multicast, reserved, documentation and unspecified
 * addresses, for IPv6 forms that embed such an IPv4 address (mapped, compatible, NAT64, 6to4), and
 * for any other family. When 0 and why is not NULL, *why names the range ("loopback"). */
int gptoss_addr_is_public(const struct sockaddr *sa, size_t len, const char **why);

/* The same for a numeric address in text ("10.0.0.1", "::1"); 0 when text is not one. */
int gptoss_addr_text_is_public(const char *text, const char **why);

#endif
