//! The libc functions the library stands in for (found with `dlsym(RTLD_NEXT)`), and safe
//! wrappers around the system calls its own logic makes.
//!
//! The library never calls `recvmsg`, `sendmsg`, `close`... by name: inside a preloaded
//! object those names resolve to its own interposers. Everything goes through [`real`].

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::time::Duration;

use libc::{
    c_int, c_uint, c_void, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

use crate::deliver::{Caller, Datagram};
use crate::nl::SOCKADDR_NL_LEN;

/// The next definition (libc's) of every function the library interposes.
#[derive(Debug, Clone, Copy)]
pub struct Real {
    pub socket: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int,
    pub connect: unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int,
    pub send: unsafe extern "C" fn(c_int, *const c_void, size_t, c_int) -> ssize_t,
    pub sendto: unsafe extern "C" fn(
        c_int,
        *const c_void,
        size_t,
        c_int,
        *const sockaddr,
        socklen_t,
    ) -> ssize_t,
    pub sendmsg: unsafe extern "C" fn(c_int, *const msghdr, c_int) -> ssize_t,
    pub sendmmsg: unsafe extern "C" fn(c_int, *mut mmsghdr, c_uint, c_int) -> c_int,
    pub recv: unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int) -> ssize_t,
    pub recvfrom: unsafe extern "C" fn(
        c_int,
        *mut c_void,
        size_t,
        c_int,
        *mut sockaddr,
        *mut socklen_t,
    ) -> ssize_t,
    pub recvmsg: unsafe extern "C" fn(c_int, *mut msghdr, c_int) -> ssize_t,
    pub recvmmsg: unsafe extern "C" fn(c_int, *mut mmsghdr, c_uint, c_int, *mut timespec) -> c_int,
    pub recv_chk: unsafe extern "C" fn(c_int, *mut c_void, size_t, size_t, c_int) -> ssize_t,
    pub recvfrom_chk: unsafe extern "C" fn(
        c_int,
        *mut c_void,
        size_t,
        size_t,
        c_int,
        *mut sockaddr,
        *mut socklen_t,
    ) -> ssize_t,
    pub close: unsafe extern "C" fn(c_int) -> c_int,
    pub dup: unsafe extern "C" fn(c_int) -> c_int,
    pub dup2: unsafe extern "C" fn(c_int, c_int) -> c_int,
    pub dup3: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int,
}

/// The address of the next definition of `name`; the process cannot go on without it.
fn next(name: &CStr) -> *mut c_void {
    // SAFETY: `name` is a NUL-terminated string; RTLD_NEXT asks for the definition after
    // this object's, which is libc's.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if p.is_null() {
        crate::warn(&format!("no next definition of {name:?}: cannot continue"));
        std::process::abort();
    }
    p
}

/// The next definition of `name` as a function pointer of type `F`.
///
/// # Safety
/// `F` must be the `unsafe extern "C" fn` type of the C prototype of `name`.
unsafe fn load<F: Copy>(name: &CStr) -> F {
    let p = next(name);
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: `p` is the non-null address of the function `name`, and the caller promises
    // that `F` is a function pointer type of its prototype; sizes are checked above.
    unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
}

macro_rules! real_fn {
    ($name:literal) => {
        // SAFETY: each field's type is the C prototype of the libc function it is named
        // after (<sys/socket.h>, <unistd.h>, and <bits/socket2.h> for the `_chk` ones).
        unsafe { load($name) }
    };
}

/// libc's definitions, looked up on first use.
pub fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| Real {
        socket: real_fn!(c"socket"),
        connect: real_fn!(c"connect"),
        send: real_fn!(c"send"),
        sendto: real_fn!(c"sendto"),
        sendmsg: real_fn!(c"sendmsg"),
        sendmmsg: real_fn!(c"sendmmsg"),
        recv: real_fn!(c"recv"),
        recvfrom: real_fn!(c"recvfrom"),
        recvmsg: real_fn!(c"recvmsg"),
        recvmmsg: real_fn!(c"recvmmsg"),
        recv_chk: real_fn!(c"__recv_chk"),
        recvfrom_chk: real_fn!(c"__recvfrom_chk"),
        close: real_fn!(c"close"),
        dup: real_fn!(c"dup"),
        dup2: real_fn!(c"dup2"),
        dup3: real_fn!(c"dup3"),
    })
}

/// What to run around every `fork()` of the process.
#[derive(Debug, Clone, Copy)]
pub struct ForkHooks {
    /// Before, in the forking thread.
    pub prepare: fn(),
    /// After, in the parent.
    pub parent: fn(),
    /// After, in the child.
    pub child: fn(),
}

/// Registers `hooks` (once per process; later calls do nothing).
pub fn at_fork(hooks: ForkHooks) {
    static HOOKS: OnceLock<ForkHooks> = OnceLock::new();
    if HOOKS.set(hooks).is_err() {
        return;
    }
    extern "C" fn on_prepare() {
        if let Some(h) = HOOKS.get() {
            (h.prepare)();
        }
    }
    extern "C" fn on_parent() {
        if let Some(h) = HOOKS.get() {
            (h.parent)();
        }
    }
    extern "C" fn on_child() {
        if let Some(h) = HOOKS.get() {
            (h.child)();
        }
    }
    // SAFETY: the handlers are plain functions that live as long as the process.
    let r = unsafe { libc::pthread_atfork(Some(on_prepare), Some(on_parent), Some(on_child)) };
    if r != 0 {
        crate::warn("pthread_atfork failed: a child forked by a threaded process may hang");
    }
}

/// The calling thread's `errno`.
pub fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets the calling thread's `errno`.
pub fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the life
    // of the thread.
    unsafe { *libc::__errno_location() = e };
}

/// A `-1`/`errno` return as `Err(errno)`.
fn check(r: ssize_t) -> Result<usize, c_int> {
    usize::try_from(r).map_err(|_| errno())
}

/// `fd`'s socket domain and protocol (`SO_DOMAIN`, `SO_PROTOCOL`); None if it is no socket.
pub fn socket_kind(fd: RawFd) -> Option<(c_int, c_int)> {
    let get = |opt| {
        let mut v: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as socklen_t;
        // SAFETY: `v` and `len` are valid for writing, `len` says how big `v` is.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&raw mut v).cast::<c_void>(),
                &mut len,
            )
        };
        (r == 0).then_some(v)
    };
    Some((get(libc::SO_DOMAIN)?, get(libc::SO_PROTOCOL)?))
}

/// The length of the next datagram on `fd`, left queued. `flags` may add `MSG_DONTWAIT`.
pub fn peek_len(fd: RawFd, flags: c_int) -> Result<usize, c_int> {
    // SAFETY: an all-zero msghdr is valid: no name, no iovecs, no control.
    let mut m: msghdr = unsafe { std::mem::zeroed() };
    // SAFETY: `m` is a valid msghdr asking for no bytes; MSG_TRUNC makes the kernel report
    // the datagram's whole length.
    check(unsafe { (real().recvmsg)(fd, &mut m, flags | libc::MSG_PEEK | libc::MSG_TRUNC) })
}

/// Room for the ancillary data of one datagram (netlink sends a few small ones at most).
const CONTROL_ROOM: usize = 512;

/// Takes the next datagram off `fd` (which [`peek_len`] said is `len` bytes long), with its
/// source address and ancillary data.
pub fn recv_datagram(fd: RawFd, len: usize, flags: c_int) -> Result<Datagram, c_int> {
    let mut d = Datagram {
        bytes: vec![0; len],
        name: [0; SOCKADDR_NL_LEN],
        control: vec![0; CONTROL_ROOM],
    };
    let mut iov = libc::iovec {
        iov_base: d.bytes.as_mut_ptr().cast(),
        iov_len: d.bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the fields set below point into `d` and `iov`.
    let mut m: msghdr = unsafe { std::mem::zeroed() };
    m.msg_name = d.name.as_mut_ptr().cast();
    m.msg_namelen = SOCKADDR_NL_LEN as socklen_t;
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    m.msg_control = d.control.as_mut_ptr().cast();
    m.msg_controllen = d.control.len();
    // SAFETY: every pointer in `m` is valid for writing the length it is given, for the
    // duration of the call.
    let n = check(unsafe { (real().recvmsg)(fd, &mut m, flags) })?;
    d.bytes.truncate(n);
    d.control.truncate(m.msg_controllen);
    Ok(d)
}

/// A `recvmsg()` straight into the caller's buffers, as the caller asked for it.
pub fn recv_into(fd: RawFd, to: &mut Caller<'_>, flags: c_int) -> Result<usize, c_int> {
    let mut iovs: Vec<libc::iovec> = to
        .iovs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: an all-zero msghdr is valid; the fields set below point into the caller's
    // buffers and `iovs`.
    let mut m: msghdr = unsafe { std::mem::zeroed() };
    if let Some(name) = to.name.as_deref_mut() {
        m.msg_name = name.as_mut_ptr().cast();
        m.msg_namelen = socklen_t::try_from(name.len()).unwrap_or(socklen_t::MAX);
    }
    m.msg_iov = iovs.as_mut_ptr();
    m.msg_iovlen = iovs.len();
    if let Some(c) = to.control.as_deref_mut() {
        m.msg_control = c.as_mut_ptr().cast();
        m.msg_controllen = c.len();
    }
    // SAFETY: every pointer in `m` is valid for writing the length it is given, for the
    // duration of the call.
    let n = check(unsafe { (real().recvmsg)(fd, &mut m, flags) })?;
    to.namelen = m.msg_namelen as usize;
    to.controllen = m.msg_controllen;
    to.flags = m.msg_flags;
    Ok(n)
}

/// Sends `bytes` as one datagram, to `name` if given (else to the connected peer).
pub fn send_datagram(
    fd: RawFd,
    bytes: &[u8],
    name: Option<&[u8]>,
    control: Option<&[u8]>,
    flags: c_int,
) -> Result<usize, c_int> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the fields set below point at the arguments.
    let mut m: msghdr = unsafe { std::mem::zeroed() };
    if let Some(name) = name {
        m.msg_name = name.as_ptr().cast_mut().cast();
        m.msg_namelen = socklen_t::try_from(name.len()).unwrap_or(socklen_t::MAX);
    }
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    if let Some(c) = control {
        m.msg_control = c.as_ptr().cast_mut().cast();
        m.msg_controllen = c.len();
    }
    // SAFETY: every pointer in `m` is valid for reading the length it is given, for the
    // duration of the call; sendmsg only reads through them despite the `*mut` types.
    check(unsafe { (real().sendmsg)(fd, &m, flags) })
}

/// Waits until `fd` has something to read or `timeout` passes; false on timeout.
/// Interrupted by a signal: returns early, as if something came.
pub fn poll_in(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // Round up: a wait of 0.4 ms must not become a busy loop of zero-length polls.
    let ms = c_int::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(c_int::MAX);
    // SAFETY: `p` is one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r != 0
}
