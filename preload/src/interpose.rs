//! The libc functions the library stands in for. Each one looks its descriptor up and, for
//! one the library does not look after, calls libc's own at once; otherwise it turns the
//! caller's raw pointers into slices and hands them to [`crate::redirect`].
//!
//! The set is what `lib/netlink-socket.c` (OVS 3.1), iproute2 and other netlink clients
//! call: `socket`, `connect`, the `send`/`recv` family (with `sendmmsg`/`recvmmsg` and the
//! fortified `__recv_chk`/`__recvfrom_chk`), and `close`/`dup`/`dup2`/`dup3`, so that a
//! descriptor number reused for another file is not taken for a redirected socket.
//! `read`/`write` on a netlink socket and `fcntl(F_DUPFD)` are not interposed.
//!
//! # Safety
//! Every function here has its libc namesake's contract: the pointers it is given are valid
//! for the lengths it is given, as the manual pages require.

use std::os::fd::RawFd;
use std::sync::Arc;

use libc::{
    c_int, c_uint, c_void, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

use crate::config;
use crate::deliver::Caller;
use crate::redirect::{self, Outgoing};
use crate::sys::{real, set_errno};
use crate::table::{self, lock, Peer, Sock};

/// `len` bytes at `p` (none when `p` is null).
///
/// # Safety
/// A non-null `p` is valid for reading `len` bytes for `'a`.
unsafe fn bytes<'a>(p: *const c_void, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: non-null and valid for `len` bytes, as the caller promises.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
}

/// `len` writable bytes at `p` (none when `p` is null).
///
/// # Safety
/// A non-null `p` is valid for writing `len` bytes for `'a`, and nothing else uses them
/// meanwhile.
unsafe fn bytes_mut<'a>(p: *mut c_void, len: usize) -> &'a mut [u8] {
    if p.is_null() || len == 0 {
        return &mut [];
    }
    // SAFETY: non-null, valid for writing `len` bytes and not aliased, as the caller
    // promises.
    unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) }
}

/// The datagram a `msghdr` describes, to send.
///
/// # Safety
/// `m` is a valid `msghdr` whose pointers are valid for their lengths for `'a`.
unsafe fn outgoing<'a>(m: &msghdr) -> Outgoing<'a> {
    let iovs: &[libc::iovec] = if m.msg_iov.is_null() {
        &[]
    } else {
        // SAFETY: `msg_iov` points at `msg_iovlen` iovecs (sendmsg(2)).
        unsafe { std::slice::from_raw_parts(m.msg_iov, m.msg_iovlen) }
    };
    Outgoing {
        // SAFETY: each iovec's base is valid for its length (sendmsg(2)).
        iovs: iovs
            .iter()
            .map(|v| unsafe { bytes(v.iov_base, v.iov_len) })
            .collect(),
        name: (!m.msg_name.is_null()).then(|| {
            // SAFETY: `msg_name` is valid for `msg_namelen` bytes (sendmsg(2)).
            unsafe { bytes(m.msg_name, m.msg_namelen as usize) }
        }),
        control: (!m.msg_control.is_null()).then(|| {
            // SAFETY: `msg_control` is valid for `msg_controllen` bytes (sendmsg(2)).
            unsafe { bytes(m.msg_control, m.msg_controllen) }
        }),
    }
}

/// The receive buffers a `msghdr` describes.
///
/// # Safety
/// `m` is a valid `msghdr` whose pointers are valid for writing their lengths for `'a`, and
/// nothing else uses those buffers meanwhile.
unsafe fn caller<'a>(m: &msghdr) -> Caller<'a> {
    let iovs: &[libc::iovec] = if m.msg_iov.is_null() {
        &[]
    } else {
        // SAFETY: `msg_iov` points at `msg_iovlen` iovecs (recvmsg(2)).
        unsafe { std::slice::from_raw_parts(m.msg_iov, m.msg_iovlen) }
    };
    Caller {
        // SAFETY: each iovec's base is valid for writing its length (recvmsg(2)); iovecs
        // that overlap would make the kernel's own copy ill-defined too.
        iovs: iovs
            .iter()
            .map(|v| unsafe { bytes_mut(v.iov_base, v.iov_len) })
            .collect(),
        name: (!m.msg_name.is_null()).then(|| {
            // SAFETY: `msg_name` is valid for writing `msg_namelen` bytes (recvmsg(2)).
            unsafe { bytes_mut(m.msg_name, m.msg_namelen as usize) }
        }),
        control: (!m.msg_control.is_null()).then(|| {
            // SAFETY: `msg_control` is valid for writing `msg_controllen` bytes.
            unsafe { bytes_mut(m.msg_control, m.msg_controllen) }
        }),
        ..Caller::default()
    }
}

/// A result for the caller: the count, or -1 with errno set.
fn ret(r: Result<usize, c_int>) -> ssize_t {
    match r {
        Ok(n) => ssize_t::try_from(n).unwrap_or(ssize_t::MAX),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// A freshly created (or duplicated) descriptor: whatever the table held for its number
/// belonged to a file closed without the library seeing it.
fn fresh(fd: RawFd) {
    table::forget(fd);
}

/// # Safety
/// As socket(2).
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on to the function it meant to call.
    let fd = unsafe { (real().socket)(domain, ty, protocol) };
    if fd >= 0 {
        fresh(fd);
        redirect::adopt(fd, domain, protocol, Peer::Unconnected, config());
    }
    fd
}

/// # Safety
/// As connect(2).
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: connect(2)'s contract: `addr` is valid for `len` bytes.
    let raw = unsafe { bytes(addr.cast(), len as usize) };
    let cfg = config();
    let Some(sock) = redirect::sock_for(fd, Some(raw), cfg) else {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { (real().connect)(fd, addr, len) };
    };
    let Some(plan) = redirect::plan_connect(&sock, raw, cfg) else {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { (real().connect)(fd, addr, len) };
    };
    let r = if plan.redirect {
        let to = crate::nl::SockaddrNl {
            pid: cfg.pid,
            groups: 0,
        }
        .to_bytes();
        // SAFETY: `to` is a sockaddr_nl of the length given.
        unsafe { (real().connect)(fd, to.as_ptr().cast(), to.len() as socklen_t) }
    } else {
        // SAFETY: the caller's arguments, passed on unchanged.
        unsafe { (real().connect)(fd, addr, len) }
    };
    if r == 0 {
        redirect::connected(&sock, plan.peer);
    }
    r
}

/// # Safety
/// As send(2).
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    if let Some(sock) = table::lookup(fd) {
        let out = Outgoing {
            // SAFETY: send(2)'s contract: `buf` is valid for `n` bytes.
            iovs: vec![unsafe { bytes(buf, n) }],
            ..Outgoing::default()
        };
        if let Some(r) = redirect::send(fd, &sock, &out, flags, config()) {
            return ret(r);
        }
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { (real().send)(fd, buf, n, flags) }
}

/// # Safety
/// As sendto(2).
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    // SAFETY: sendto(2)'s contract: a non-null `addr` is valid for `len` bytes.
    let name = (!addr.is_null()).then(|| unsafe { bytes(addr.cast(), len as usize) });
    if let Some(sock) = redirect::sock_for(fd, name, config()) {
        let out = Outgoing {
            // SAFETY: sendto(2)'s contract: `buf` is valid for `n` bytes.
            iovs: vec![unsafe { bytes(buf, n) }],
            name,
            control: None,
        };
        if let Some(r) = redirect::send(fd, &sock, &out, flags, config()) {
            return ret(r);
        }
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { (real().sendto)(fd, buf, n, flags, addr, len) }
}

/// Sends one `msghdr` through the library; None: pass it to libc.
///
/// # Safety
/// `m` is a valid `msghdr` (sendmsg(2)).
unsafe fn sendmsg_tracked(fd: RawFd, m: &msghdr, flags: c_int) -> Option<Result<usize, c_int>> {
    let name = (!m.msg_name.is_null()).then(|| {
        // SAFETY: sendmsg(2)'s contract: `msg_name` is valid for `msg_namelen` bytes.
        unsafe { bytes(m.msg_name, m.msg_namelen as usize) }
    });
    let sock = redirect::sock_for(fd, name, config())?;
    // SAFETY: sendmsg(2)'s contract, passed on by our caller.
    let out = unsafe { outgoing(m) };
    redirect::send(fd, &sock, &out, flags, config())
}

/// # Safety
/// As sendmsg(2).
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if !msg.is_null() {
        // SAFETY: sendmsg(2)'s contract: `msg` points at a valid msghdr.
        if let Some(r) = unsafe { sendmsg_tracked(fd, &*msg, flags) } {
            return ret(r);
        }
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { (real().sendmsg)(fd, msg, flags) }
}

/// # Safety
/// As sendmmsg(2).
#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    if table::lookup(fd).is_none() || msgs.is_null() {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { (real().sendmmsg)(fd, msgs, vlen, flags) };
    }
    // SAFETY: sendmmsg(2)'s contract: `msgs` points at `vlen` valid mmsghdrs.
    let msgs = unsafe { std::slice::from_raw_parts_mut(msgs, vlen as usize) };
    let mut done: c_int = 0;
    for mm in msgs.iter_mut() {
        // SAFETY: `mm.msg_hdr` is a valid msghdr, as above.
        let r = match unsafe { sendmsg_tracked(fd, &mm.msg_hdr, flags) } {
            Some(r) => r,
            None => {
                // SAFETY: a valid msghdr of the caller's, passed on unchanged.
                let n = unsafe { (real().sendmsg)(fd, &mm.msg_hdr, flags) };
                usize::try_from(n).map_err(|_| crate::sys::errno())
            }
        };
        match r {
            Ok(n) => {
                mm.msg_len = c_uint::try_from(n).unwrap_or(c_uint::MAX);
                done += 1;
            }
            Err(e) if done == 0 => {
                set_errno(e);
                return -1;
            }
            // As sendmmsg(2): the messages sent so far count; the error shows next time.
            Err(_) => break,
        }
    }
    done
}

/// Receives through the library into `to`: the generic-netlink sockets it looks after
/// while they are owed answers or hold parts of a datagram back. None: pass the call to
/// libc.
fn recv_tracked<'a>(
    fd: RawFd,
    sock: &Sock,
    flags: c_int,
    to: impl FnOnce() -> Caller<'a>,
) -> Option<(Result<usize, c_int>, Caller<'a>)> {
    let Sock::Redirected(st) = sock else {
        return None;
    };
    if flags & libc::MSG_ERRQUEUE != 0 || !lock(st).busy() {
        return None;
    }
    let mut c = to();
    let r = redirect::recv_redirected(fd, st, &mut c, flags, config());
    Some((r, c))
}

/// After a receive libc made on a socket the library looks after: dpswitch's port id shows
/// as the kernel's in the source address.
fn mask(sock: &Sock, name: &mut [u8]) {
    if let Sock::Redirected(_) = sock {
        redirect::mask_source(name, config());
    }
}

/// # Safety
/// As recv(2).
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    let Some(sock) = table::lookup(fd) else {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { (real().recv)(fd, buf, n, flags) };
    };
    let tracked = recv_tracked(fd, &sock, flags, || Caller {
        // SAFETY: recv(2)'s contract: `buf` is valid for writing `n` bytes until we return.
        iovs: vec![unsafe { bytes_mut(buf, n) }],
        ..Caller::default()
    });
    match tracked {
        Some((r, _)) => ret(r),
        // SAFETY: the caller's arguments, passed on unchanged.
        None => unsafe { (real().recv)(fd, buf, n, flags) },
    }
}

/// # Safety
/// As recvfrom(2).
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let Some(sock) = table::lookup(fd) else {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { (real().recvfrom)(fd, buf, n, flags, addr, len) };
    };
    let has_name = !addr.is_null() && !len.is_null();
    // SAFETY: recvfrom(2)'s contract: a non-null `addrlen` is valid.
    let room = if has_name { unsafe { *len } } else { 0 };
    let tracked = recv_tracked(fd, &sock, flags, || Caller {
        // SAFETY: recvfrom(2)'s contract: `buf` is valid for writing `n` bytes, and a
        // non-null `src_addr` for `*addrlen` bytes, until we return.
        iovs: vec![unsafe { bytes_mut(buf, n) }],
        name: has_name.then(|| {
            // SAFETY: as above.
            unsafe { bytes_mut(addr.cast(), room as usize) }
        }),
        ..Caller::default()
    });
    if let Some((r, c)) = tracked {
        if r.is_ok() && has_name {
            // SAFETY: checked non-null above; recvfrom(2) reports the address length there.
            unsafe { *len = c.namelen as socklen_t };
        }
        return ret(r);
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    let r = unsafe { (real().recvfrom)(fd, buf, n, flags, addr, len) };
    if r >= 0 && has_name {
        // SAFETY: the kernel wrote at most `room` bytes of address (it reports the whole
        // length in `*len`, which may be more) into the caller's valid buffer.
        let written = unsafe { (*len).min(room) } as usize;
        // SAFETY: as above.
        mask(&sock, unsafe { bytes_mut(addr.cast(), written) });
    }
    r
}

/// `recvmsg` on one `msghdr`.
///
/// # Safety
/// As recvmsg(2).
unsafe fn recvmsg_one(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let sock = match table::lookup(fd) {
        Some(s) if !msg.is_null() => s,
        // SAFETY: the caller's arguments, passed on unchanged.
        _ => return unsafe { (real().recvmsg)(fd, msg, flags) },
    };
    // SAFETY: recvmsg(2)'s contract: `msg` is a valid msghdr with valid buffers until we
    // return.
    let tracked = recv_tracked(fd, &sock, flags, || unsafe { caller(&*msg) });
    if let Some((r, c)) = tracked {
        if r.is_ok() {
            // SAFETY: as above; the buffers `c` borrowed are no longer used.
            let m = unsafe { &mut *msg };
            m.msg_namelen = c.namelen as socklen_t;
            m.msg_controllen = c.controllen;
            m.msg_flags = c.flags;
        }
        return ret(r);
    }
    // SAFETY: as above.
    let room = unsafe { (*msg).msg_namelen };
    // SAFETY: the caller's arguments, passed on unchanged.
    let r = unsafe { (real().recvmsg)(fd, msg, flags) };
    if r >= 0 {
        // SAFETY: as above.
        let m = unsafe { &*msg };
        // The kernel wrote at most `room` bytes of address; it reports the whole length,
        // which may be more.
        let written = m.msg_namelen.min(room) as usize;
        // SAFETY: `msg_name` is the caller's, valid for `room` bytes.
        mask(&sock, unsafe { bytes_mut(m.msg_name, written) });
    }
    r
}

/// # Safety
/// As recvmsg(2).
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    // SAFETY: recvmsg(2)'s contract, passed on.
    unsafe { recvmsg_one(fd, msg, flags) }
}

/// # Safety
/// As recvmmsg(2). On a socket the library looks after, `timeout` is not applied.
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgs: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut timespec,
) -> c_int {
    let genl = table::lookup(fd).is_some_and(|s| matches!(*s, Sock::Redirected(_)));
    if !genl || msgs.is_null() {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { (real().recvmmsg)(fd, msgs, vlen, flags, timeout) };
    }
    // SAFETY: recvmmsg(2)'s contract: `msgs` points at `vlen` valid mmsghdrs.
    let msgs = unsafe { std::slice::from_raw_parts_mut(msgs, vlen as usize) };
    let mut done: c_int = 0;
    let mut f = flags & !libc::MSG_WAITFORONE;
    for mm in msgs.iter_mut() {
        // SAFETY: a valid msghdr of the caller's, as above.
        let r = unsafe { recvmsg_one(fd, &mut mm.msg_hdr, f) };
        if r < 0 {
            if done == 0 {
                return -1;
            }
            break;
        }
        mm.msg_len = c_uint::try_from(r).unwrap_or(c_uint::MAX);
        done += 1;
        if flags & libc::MSG_WAITFORONE != 0 {
            f |= libc::MSG_DONTWAIT;
        }
    }
    done
}

/// # Safety
/// As glibc's `__recv_chk` (what `recv` becomes under `_FORTIFY_SOURCE`).
#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if n > buflen {
        // SAFETY: libc's own check reports the overflow (and aborts).
        return unsafe { (real().recv_chk)(fd, buf, n, buflen, flags) };
    }
    // SAFETY: as recv(2), `n` checked against the buffer's size.
    unsafe { recv(fd, buf, n, flags) }
}

/// # Safety
/// As glibc's `__recvfrom_chk` (what `recvfrom` becomes under `_FORTIFY_SOURCE`).
#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if n > buflen {
        // SAFETY: libc's own check reports the overflow (and aborts).
        return unsafe { (real().recvfrom_chk)(fd, buf, n, buflen, flags, addr, len) };
    }
    // SAFETY: as recvfrom(2), `n` checked against the buffer's size.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}

/// # Safety
/// As close(2).
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if let Some(sock) = table::lookup(fd) {
        if let Sock::Redirected(st) = &*sock {
            // The last descriptor of the socket (the table's reference and this one).
            if Arc::strong_count(&sock) == 2 {
                redirect::drain(fd, st, config());
            }
        }
    }
    // Forgotten first: once libc's close returns, another thread may get the number again.
    table::forget(fd);
    // SAFETY: the caller's argument, passed on unchanged.
    unsafe { (real().close)(fd) }
}

/// After a successful duplication of `old` onto `new`: `new` is now what `old` is.
fn duplicated(old: RawFd, new: RawFd) {
    fresh(new);
    if let Some(s) = table::lookup(old) {
        table::insert(new, s);
    }
}

/// # Safety
/// As dup(2).
#[no_mangle]
pub unsafe extern "C" fn dup(old: c_int) -> c_int {
    // SAFETY: the caller's argument, passed on unchanged.
    let new = unsafe { (real().dup)(old) };
    if new >= 0 {
        duplicated(old, new);
    }
    new
}

/// # Safety
/// As dup2(2).
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    let r = unsafe { (real().dup2)(old, new) };
    if r >= 0 && old != new {
        duplicated(old, new);
    }
    r
}

/// # Safety
/// As dup3(2).
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    let r = unsafe { (real().dup3)(old, new, flags) };
    if r >= 0 {
        duplicated(old, new);
    }
    r
}
