//! One error type for the whole crate, each variant mapping to the errno the
//! Linux kernel (`net/openvswitch/`) returns for the same failure.

/// Linux errno values used by the OVS families (x86-64/arm64 numbering).
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory (flow not found).
    pub const ENOENT: i32 = 2;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// Device or resource busy.
    pub const EBUSY: i32 = 16;
    /// File exists.
    pub const EEXIST: i32 = 17;
    /// No such device (datapath / vport not found).
    pub const ENODEV: i32 = 19;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// File too large (port number out of range, upcall too large).
    pub const EFBIG: i32 = 27;
    /// Argument list too long (text keys/actions exceeding 64 KiB).
    pub const E2BIG: i32 = 7;
    /// Result out of range (attribute policy range violations).
    pub const ERANGE: i32 = 34;
    /// Message too long (action list above 32 KiB, reply does not fit).
    pub const EMSGSIZE: i32 = 90;
    /// Operation not supported.
    pub const EOPNOTSUPP: i32 = 95;
    /// Address family not supported (unknown vport type).
    pub const EAFNOSUPPORT: i32 = 97;
    /// Transport endpoint is not connected (upcall pid 0).
    pub const ENOTCONN: i32 = 107;
    /// Value too large for defined data type (action nesting too deep).
    pub const EOVERFLOW: i32 = 75;
    /// Protocol error (an answer that does not decode).
    pub const EPROTO: i32 = 71;
    /// Connection timed out (a peer that does not answer).
    pub const ETIMEDOUT: i32 = 110;
    /// Connection refused (nothing bound at the port id).
    pub const ECONNREFUSED: i32 = 111;

    /// The symbolic name of a positive errno the OVS families answer with (`"ok"` for 0,
    /// `"other"` for one they never use), for logs and metric labels.
    pub fn name(errno: i32) -> &'static str {
        match errno {
            0 => "ok",
            EPERM => "EPERM",
            ENOENT => "ENOENT",
            ENOMEM => "ENOMEM",
            EBUSY => "EBUSY",
            EEXIST => "EEXIST",
            ENODEV => "ENODEV",
            EINVAL => "EINVAL",
            EFBIG => "EFBIG",
            E2BIG => "E2BIG",
            ERANGE => "ERANGE",
            EMSGSIZE => "EMSGSIZE",
            EOPNOTSUPP => "EOPNOTSUPP",
            EAFNOSUPPORT => "EAFNOSUPPORT",
            ENOTCONN => "ENOTCONN",
            EOVERFLOW => "EOVERFLOW",
            _ => "other",
        }
    }
}

/// Every failure the codec, the validators and the text parser can report.
///
/// [`Error::errno`] gives the positive errno the kernel would answer with;
/// a server puts its negation into `NLMSG_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header or attribute claims more bytes than the buffer holds.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// What was being parsed.
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Bytes left over after the last attribute or inside a fixed struct.
    #[error("{what}: {len} trailing bytes")]
    TrailingBytes {
        /// What was being parsed.
        what: &'static str,
        /// Number of unparsed bytes.
        len: usize,
    },
    /// An attribute payload has the wrong size for its type.
    #[error("{what}: bad attribute length {len}")]
    BadLength {
        /// Attribute name.
        what: &'static str,
        /// Payload length received.
        len: usize,
    },
    /// The same attribute type appears twice where the kernel forbids it.
    #[error("{what}: duplicate attribute type {ty}")]
    Duplicate {
        /// Context (attribute set).
        what: &'static str,
        /// Attribute type.
        ty: u16,
    },
    /// An attribute type the kernel does not accept in this context.
    #[error("{what}: unknown or unsupported attribute type {ty}")]
    UnknownAttr {
        /// Context (attribute set).
        what: &'static str,
        /// Attribute type.
        ty: u16,
    },
    /// A required attribute is absent.
    #[error("missing attribute {0}")]
    Missing(&'static str),
    /// A field holds a value the kernel rejects.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Key prerequisite violated ("Missing key" in the kernel log).
    #[error("missing key attribute {0}")]
    MissingKey(&'static str),
    /// A mask attribute that the key does not allow ("Unexpected mask").
    #[error("unexpected mask attribute {0}")]
    UnexpectedMask(&'static str),
    /// A genl command number that the family does not define.
    #[error("unknown command {0}")]
    UnknownCommand(u8),
    /// A value outside the attribute policy range (newer kernels: ERANGE).
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// A known but unsupported feature (e.g. datapath feature bits).
    #[error("{0} not supported")]
    NotSupported(&'static str),
    /// Unknown vport type.
    #[error("unknown vport type {0}")]
    UnknownVportType(u32),
    /// Nested actions deeper than the kernel's limit.
    #[error("actions nested deeper than {0} levels")]
    NestingTooDeep(usize),
    /// Action list larger than the kernel's 32 KiB copy.
    #[error("action list larger than {0} bytes")]
    ActionsTooLarge(usize),
    /// An emitted attribute or message would exceed 65535 bytes.
    #[error("{0} too large for a netlink attribute")]
    TooLarge(&'static str),
    /// A text key or action list would not fit a netlink attribute.
    #[error("{0} exceeds the netlink attribute size")]
    TextTooBig(&'static str),
    /// ODP text could not be parsed.
    #[error("syntax error at byte {pos}: {msg}")]
    Syntax {
        /// Byte offset into the input.
        pos: usize,
        /// What was expected.
        msg: String,
    },
    /// Datapath or vport not found.
    #[error("no such device")]
    NoDevice,
    /// Flow not found.
    #[error("flow not found")]
    NotFound,
    /// Object already exists.
    #[error("already exists")]
    Exists,
    /// Resource busy (port number in use).
    #[error("resource busy")]
    Busy,
    /// Port number out of range or none free.
    #[error("port number too big or none free")]
    PortRange,
    /// An `NLMSG_ERROR` reply from the peer (positive errno).
    #[error("peer returned errno {0}")]
    Remote(i32),
}

impl Error {
    /// The positive errno the Linux kernel returns for this failure.
    pub fn errno(&self) -> i32 {
        use errno::*;
        match self {
            Error::Truncated { .. }
            | Error::TrailingBytes { .. }
            | Error::BadLength { .. }
            | Error::Duplicate { .. }
            | Error::UnknownAttr { .. }
            | Error::Missing(_)
            | Error::Invalid(_)
            | Error::MissingKey(_)
            | Error::UnexpectedMask(_)
            | Error::Syntax { .. } => EINVAL,
            Error::UnknownCommand(_) => EOPNOTSUPP,
            Error::OutOfRange(_) => ERANGE,
            Error::NotSupported(_) => EOPNOTSUPP,
            Error::UnknownVportType(_) => EAFNOSUPPORT,
            Error::NestingTooDeep(_) => EOVERFLOW,
            Error::ActionsTooLarge(_) | Error::TooLarge(_) => EMSGSIZE,
            Error::TextTooBig(_) => E2BIG,
            Error::NoDevice => ENODEV,
            Error::NotFound => ENOENT,
            Error::Exists => EEXIST,
            Error::Busy => EBUSY,
            Error::PortRange => EFBIG,
            Error::Remote(e) => *e,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;
