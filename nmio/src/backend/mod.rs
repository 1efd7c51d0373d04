//! Backends: the leaves of the stack. Each implements [`crate::Port`].

pub mod afpacket;
#[cfg(feature = "afxdp")]
pub mod afxdp;
pub(crate) mod bpf;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod impair;
pub mod impair_model;
#[cfg(feature = "netmap")]
pub mod netmap;
pub mod pcap;
pub mod pipe;
pub mod sink;
pub(crate) mod sys;
pub mod tap;
pub(crate) mod vnet;
