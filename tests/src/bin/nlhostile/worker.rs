//! One thread's socket and its stream of datagrams: how many messages each holds, and the
//! mix of valid and hostile ones.

use std::time::Duration;

use dpswitch_e2e::nlclient::NlClient;
use odp::nl::{self, flags};

use crate::rng::Rng;
use crate::scratch::Ctx;
use crate::tally::Tally;

/// One thread's socket and its request stream.
pub(crate) struct Worker {
    pub(crate) c: NlClient,
    pub(crate) ctx: Ctx,
    pub(crate) rng: Rng,
    pub(crate) id: u32,
    pub(crate) seq: u32,
    pub(crate) t: Tally,
    pub(crate) timeout: Duration,
    pub(crate) ufids: u32,
}

impl Worker {
    /// One message of the hostile mix.
    pub(crate) fn message(&mut self) -> Vec<u8> {
        let ack = if self.rng.chance(70) { flags::ACK } else { 0 };
        let kind = self.rng.below(100);
        if kind < 30 {
            return self.valid(ack);
        }
        let mut m = self.hostile(kind, ack);
        self.guard(&mut m);
        m
    }

    /// One datagram of 1..=6 messages (mostly one).
    pub(crate) fn datagram(&mut self) -> Vec<u8> {
        let n = if self.rng.chance(80) {
            1
        } else {
            2 + self.rng.below(5)
        };
        let mut d = Vec::new();
        for _ in 0..n {
            let m = self.message();
            d.extend_from_slice(&m);
            // Messages start aligned; a lying one may leave odd bytes (a tail the walk sees).
            d.resize(nl::align(d.len()), 0);
        }
        if self.rng.chance(3) {
            // A runt tail.
            let k = 1 + self.rng.below(15) as usize;
            d.extend((0..k).map(|_| self.rng.next() as u8));
        }
        d
    }
}
