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
 * with MSG_DONTWAIT and takes EAGAIN as "no reply" -- and, for a request sent without
 * NLM_F_ACK (ovs-dpctl's flow puts and deletes), as "it succeeded". dpswitch answers from
 * another process a moment later, so for redirected sockets the shim sets NLM_F_ACK on every
 * non-dump request that lacks it (remembering its seq), counts the requests owed a terminal
 * answer (NLMSG_ERROR, or NLMSG_DONE for a dump), and while any is owed lets a MSG_DONTWAIT
 * receive wait (up to 5 s) for the next datagram. The success ACKs the shim asked for are
 * swallowed (a receive that only found those reports EAGAIN once nothing is owed), so the
 * client sees exactly the kernel's replies, at the moment the kernel would have sent them.
 * A datagram is counted whole even when it spans the receiver's iovecs; an answer that
 * does not come within the wait is given up, after one stall.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
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

/* Seqs of the requests the shim added NLM_F_ACK to, per fd (a ring; OVS batches at most 50). */
#define ACKED_RING 64
static uint32_t acked[MAX_FDS][ACKED_RING];
static unsigned char acked_used[MAX_FDS][ACKED_RING];
static unsigned acked_next[MAX_FDS];

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

/* Sets NLM_F_ACK on the non-dump requests of one datagram about to be sent (in place),
 * remembers their seqs, and counts every request as owed a terminal answer. */
static void prepare_requests(int fd, unsigned char *buf, size_t len)
{
    while (len >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr *h = (void *)buf;
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_len < sizeof *h || h->nlmsg_len > len)
            break;
        if (h->nlmsg_flags & NLM_F_REQUEST) {
            owed[fd]++;
            if (!(h->nlmsg_flags & (NLM_F_ACK | NLM_F_DUMP))) {
                unsigned i = acked_next[fd]++ % ACKED_RING;
                h->nlmsg_flags |= NLM_F_ACK;
                acked[fd][i] = h->nlmsg_seq;
                acked_used[fd][i] = 1;
            }
        }
        if (step >= len)
            break;
        buf += step;
        len -= step;
    }
}

/* Whether one received datagram is only a success ACK the shim asked for (then forgotten). */
static int injected_ack(int fd, const unsigned char *buf, size_t len)
{
    const struct nlmsghdr *h = (const void *)buf;
    const struct nlmsgerr *e = NLMSG_DATA(h);

    if (len < NLMSG_LENGTH(sizeof *e) || h->nlmsg_type != NLMSG_ERROR || e->error != 0
        || NLMSG_ALIGN(h->nlmsg_len) < len)
        return 0;
    for (unsigned i = 0; i < ACKED_RING; i++) {
        if (acked_used[fd][i] && acked[fd][i] == h->nlmsg_seq) {
            acked_used[fd][i] = 0;
            return 1;
        }
    }
    return 0;
}

/* Subtracts the terminal answers in one received datagram. */
static void count_answers(int fd, const unsigned char *buf, size_t len)
{
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *h = (const void *)buf;
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_len < sizeof *h || h->nlmsg_len > len)
            break;
        int last = h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE;
        if (last && owed[fd] > 0)
            owed[fd]--;
        if (step >= len)
            break;
        buf += step;
        len -= step;
    }
}

/* Sends one datagram on a redirected fd: gathered into one buffer so that flags can be set. */
static ssize_t send_tracked(int fd, const struct msghdr *msg, int flags,
                            ssize_t (*real)(int, const struct msghdr *, int))
{
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf)
        return real(fd, msg, flags);
    size_t off = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++) {
        memcpy(buf + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
        off += msg->msg_iov[i].iov_len;
    }
    int saved_owed = owed[fd];
    prepare_requests(fd, buf, total);
    struct iovec iov = { .iov_base = buf, .iov_len = total };
    struct msghdr m = *msg;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t r = real(fd, &m, flags);
    if (r < 0)
        owed[fd] = saved_owed;
    free(buf);
    return r;
}

static ssize_t (*real_sendmsg(void))(int, const struct msghdr *, int)
{
    static ssize_t (*real)(int, const struct msghdr *, int);
    if (!real)
        real = dlsym(RTLD_NEXT, "sendmsg");
    return real;
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
    if (tracked(fd)) {
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        return send_tracked(fd, &m, flags, real_sendmsg());
    }
    return real(fd, buf, n, flags);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t len)
{
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    struct sockaddr_nl copy;

    if (!real)
        real = dlsym(RTLD_NEXT, "sendto");
    const struct sockaddr *to = redirect(fd, addr, len, &copy);
    if (tracked(fd)) {
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
        struct msghdr m = { .msg_name = (void *)to, .msg_namelen = to ? len : 0,
                            .msg_iov = &iov, .msg_iovlen = 1 };
        return send_tracked(fd, &m, flags, real_sendmsg());
    }
    return real(fd, buf, n, flags, to, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct sockaddr_nl copy;
    struct msghdr m = *msg;

    m.msg_name = (void *)redirect(fd, msg->msg_name, msg->msg_namelen, &copy);
    if (tracked(fd))
        return send_tracked(fd, &m, flags, real_sendmsg());
    return real_sendmsg()(fd, &m, flags);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, struct msghdr *, int);

    if (!real)
        real = dlsym(RTLD_NEXT, "recvmsg");
    if (!tracked(fd) || (flags & MSG_PEEK))
        return real(fd, msg, flags);
    for (;;) {
        if ((flags & MSG_DONTWAIT) && owed[fd] > 0) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            /* Nothing within the wait: the answers owed are not coming (the kernel never
             * leaves any owed), so stop waiting for them on later receives too. */
            if (poll(&p, 1, REPLY_WAIT_MS) == 0)
                owed[fd] = 0;
        }
        ssize_t r = real(fd, msg, flags);
        if (r <= 0 || msg->msg_iovlen == 0)
            return r;
        /* OVS receives into a first iovec that holds at least one whole ACK. */
        const unsigned char *b = msg->msg_iov[0].iov_base;
        size_t first = msg->msg_iov[0].iov_len < (size_t)r ? msg->msg_iov[0].iov_len : (size_t)r;
        if (first == (size_t)r && injected_ack(fd, b, first)) {
            if (owed[fd] > 0)
                owed[fd]--;
            if ((flags & MSG_DONTWAIT) && owed[fd] == 0) {
                errno = EAGAIN;
                return -1;
            }
            continue;
        }
        if (first == (size_t)r) {
            count_answers(fd, b, first);
            return r;
        }
        /* The datagram spilled into later iovecs (OVS reads into a buffer plus a 64 KiB
         * tail): messages straddle the boundary, so count on a contiguous copy. */
        unsigned char *all = malloc((size_t)r);
        if (all) {
            size_t off = 0;
            for (size_t i = 0; i < msg->msg_iovlen && off < (size_t)r; i++) {
                size_t part = msg->msg_iov[i].iov_len;
                if (part > (size_t)r - off)
                    part = (size_t)r - off;
                memcpy(all + off, msg->msg_iov[i].iov_base, part);
                off += part;
            }
            count_answers(fd, all, (size_t)r);
            free(all);
        }
        return r;
    }
}

int close(int fd)
{
    static int (*real)(int);

    if (!real)
        real = dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FDS) {
        redirected[fd] = 0;
        owed[fd] = 0;
        memset(acked_used[fd], 0, sizeof acked_used[fd]);
    }
    return real(fd);
}
