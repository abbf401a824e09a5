/*
 * LD_PRELOAD shim for tests only: points a stock netlink client (ovs-dpctl) at dpswitch.
 *
 * Redirect: OVS's lib/netlink-socket.c connect()s every netlink socket to port id 0 (the
 * kernel) and then sends without an address (send()/sendmsg()), so rewriting the connect()
 * target is what matters; sendto()/sendmsg() with an explicit port-0 address are rewritten
 * too. Only AF_NETLINK sockets of protocol NETLINK_GENERIC are touched (SO_PROTOCOL);
 * NETLINK_ROUTE and everything else pass through. The target port id comes from
 * DPSWITCH_NETLINK_PID; without it the shim does nothing.
 *
 * Timing: the kernel answers a genetlink request inside sendmsg(), so OVS reads the reply
 * with MSG_DONTWAIT and takes EAGAIN as "no reply". dpswitch answers from another process a
 * moment later, so for redirected sockets the shim counts requests sent and the answers that
 * end one (NLMSG_ERROR, NLMSG_DONE, or a reply without NLM_F_MULTI) and, while any is owed, lets a MSG_DONTWAIT receive wait (up to 5 s) for the next datagram. That restores
 * the kernel's "the answer is there when send returns" without changing any bytes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_FDS 4096
#define REPLY_WAIT_MS 5000

static unsigned char redirected[MAX_FDS];
static int owed[MAX_FDS];

static uint32_t target_pid(void)
{
    const char *s = getenv("DPSWITCH_NETLINK_PID");
    return s ? (uint32_t)strtoul(s, NULL, 0) : 0;
}

static int is_generic_netlink(int fd)
{
    int protocol;
    socklen_t plen = sizeof protocol;
    return !getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &plen)
           && protocol == NETLINK_GENERIC;
}

/* The address to use instead of addr: a copy aimed at dpswitch when addr is the kernel
 * (port 0, no groups) on a NETLINK_GENERIC fd, else addr itself. */
static const struct sockaddr *redirect(int fd, const struct sockaddr *addr, socklen_t len,
                                       struct sockaddr_nl *copy)
{
    uint32_t pid = target_pid();

    if (!pid || !addr || len < sizeof(struct sockaddr_nl) || addr->sa_family != AF_NETLINK
        || !is_generic_netlink(fd))
        return addr;
    memcpy(copy, addr, sizeof *copy);
    if (copy->nl_pid != 0 || copy->nl_groups != 0)
        return addr;
    copy->nl_pid = pid;
    if (fd >= 0 && fd < MAX_FDS)
        redirected[fd] = 1;
    return (const struct sockaddr *)copy;
}

static int tracked(int fd)
{
    return fd >= 0 && fd < MAX_FDS && redirected[fd];
}

/* Adds the requests in one sent datagram that are owed a terminal answer. */
static void count_requests(int fd, const unsigned char *buf, size_t len)
{
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *h = (const void *)buf;
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_len < sizeof *h || h->nlmsg_len > len)
            break;
        if (h->nlmsg_flags & NLM_F_REQUEST)
            owed[fd]++;
        if (step >= len)
            break;
        buf += step;
        len -= step;
    }
}

/* Subtracts the terminal answers in one received datagram. */
static void count_answers(int fd, const unsigned char *buf, size_t len)
{
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *h = (const void *)buf;
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_len < sizeof *h || h->nlmsg_len > len)
            break;
        int last = h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE
                   || !(h->nlmsg_flags & NLM_F_MULTI);
        if (last && owed[fd] > 0)
            owed[fd]--;
        if (step >= len)
            break;
        buf += step;
        len -= step;
    }
}

static void count_iov(int fd, const struct iovec *iov, size_t n, size_t total, int sent)
{
    /* OVS sends and receives whole datagrams through one or two iovecs; walking each
     * iovec's filled part is enough for the header scan. */
    for (size_t i = 0; i < n && total > 0; i++) {
        size_t part = iov[i].iov_len < total ? iov[i].iov_len : total;
        if (sent)
            count_requests(fd, iov[i].iov_base, part);
        else
            count_answers(fd, iov[i].iov_base, part);
        total -= part;
    }
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    struct sockaddr_nl copy;

    if (!real)
        real = dlsym(RTLD_NEXT, "connect");
    return real(fd, redirect(fd, addr, len, &copy), len);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    static ssize_t (*real)(int, const void *, size_t, int);

    if (!real)
        real = dlsym(RTLD_NEXT, "send");
    ssize_t r = real(fd, buf, n, flags);
    if (r > 0 && tracked(fd))
        count_requests(fd, buf, (size_t)r);
    return r;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t len)
{
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    struct sockaddr_nl copy;

    if (!real)
        real = dlsym(RTLD_NEXT, "sendto");
    ssize_t r = real(fd, buf, n, flags, redirect(fd, addr, len, &copy), len);
    if (r > 0 && tracked(fd))
        count_requests(fd, buf, (size_t)r);
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, const struct msghdr *, int);
    struct sockaddr_nl copy;
    struct msghdr m = *msg;

    if (!real)
        real = dlsym(RTLD_NEXT, "sendmsg");
    m.msg_name = (void *)redirect(fd, msg->msg_name, msg->msg_namelen, &copy);
    ssize_t r = real(fd, &m, flags);
    if (r > 0 && tracked(fd))
        count_iov(fd, m.msg_iov, m.msg_iovlen, (size_t)r, 1);
    return r;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, struct msghdr *, int);

    if (!real)
        real = dlsym(RTLD_NEXT, "recvmsg");
    if (tracked(fd) && (flags & MSG_DONTWAIT) && owed[fd] > 0) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, REPLY_WAIT_MS);
    }
    ssize_t r = real(fd, msg, flags);
    if (r > 0 && tracked(fd) && !(flags & MSG_PEEK))
        count_iov(fd, msg->msg_iov, msg->msg_iovlen, (size_t)r, 0);
    return r;
}

int close(int fd)
{
    static int (*real)(int);

    if (!real)
        real = dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FDS) {
        redirected[fd] = 0;
        owed[fd] = 0;
    }
    return real(fd);
}
