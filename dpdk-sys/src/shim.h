/*
 * dpdk-sys shim: DPDK's fast-path API is made of static inline functions (rx/tx burst,
 * mbuf alloc/free/refcnt), which bindgen cannot bind. This shim wraps the few the nmio
 * backend needs in real functions, and reads the mbuf fields the RX path needs in C, so
 * Rust never depends on the layout of struct rte_mbuf.
 */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* Flags of struct dpdk_shim_rx. */
enum dpdk_shim_rx_flag {
	/* `rss` holds the NIC's RSS hash (RTE_MBUF_F_RX_RSS_HASH). */
	DPDK_SHIM_RX_RSS = 1 << 0,
	/* A VLAN tag was stripped into `vlan_tci` (RTE_MBUF_F_RX_VLAN_STRIPPED). */
	DPDK_SHIM_RX_VLAN_STRIPPED = 1 << 1,
	/* The NIC verified the L4 checksum (RTE_MBUF_F_RX_L4_CKSUM_GOOD). */
	DPDK_SHIM_RX_L4_CSUM_GOOD = 1 << 2,
	/* The L4 checksum was not filled in, the data is intact (RTE_MBUF_F_RX_L4_CKSUM_NONE). */
	DPDK_SHIM_RX_L4_CSUM_NONE = 1 << 3,
	/* The NIC found the L4 checksum wrong (RTE_MBUF_F_RX_L4_CKSUM_BAD). */
	DPDK_SHIM_RX_L4_CSUM_BAD = 1 << 4,
};

/* What the RX path needs to know about one received mbuf. */
struct dpdk_shim_rx {
	/* First byte of the frame (rte_pktmbuf_mtod). */
	uint8_t *data;
	/* Bytes in the first segment (data_len). */
	uint32_t len;
	/* Bytes in the whole chain (pkt_len); more than `len` for a chained mbuf. */
	uint32_t pkt_len;
	/* RSS hash, valid with DPDK_SHIM_RX_RSS. */
	uint32_t rss;
	/* VLAN TCI, valid with DPDK_SHIM_RX_VLAN_STRIPPED. */
	uint16_t vlan_tci;
	/* DPDK_SHIM_RX_* flags. */
	uint16_t flags;
};

/* rte_errno of the calling thread (a thread-local variable in C). */
int dpdk_shim_errno(void);

/* rte_eth_rx_burst, then fill info[i] for each of the mbufs received. */
uint16_t dpdk_shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
			    struct dpdk_shim_rx *info, uint16_t n);

/*
 * Set data_len and pkt_len of pkts[i] to lens[i] where lens[i] is not 0 (0 keeps the
 * length the mbuf has), then rte_eth_tx_burst. Returns how many the driver took; the
 * rest are still the caller's.
 */
uint16_t dpdk_shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
			    const uint16_t *lens, uint16_t n);

/*
 * rte_pktmbuf_alloc_bulk (all or nothing): on success data[i] is where pkts[i]'s frame
 * starts. Returns 0, or a negative errno when the pool has fewer than `n` free.
 */
int dpdk_shim_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, uint8_t **data,
			 unsigned int n);

/* rte_pktmbuf_alloc; NULL when the pool is empty. */
struct rte_mbuf *dpdk_shim_alloc(struct rte_mempool *mp);

/* rte_pktmbuf_free: drops one reference, returns the mbuf to its pool at zero. */
void dpdk_shim_free(struct rte_mbuf *m);

/* Where the frame of `m` starts (rte_pktmbuf_mtod). */
uint8_t *dpdk_shim_data(struct rte_mbuf *m);

/* Bytes a fresh mbuf of `mp` holds after its headroom. */
uint16_t dpdk_shim_pool_room(struct rte_mempool *mp);

/* Make `m` a single segment of `len` bytes (data_len and pkt_len). */
void dpdk_shim_set_len(struct rte_mbuf *m, uint16_t len);

/* rte_mbuf_refcnt_read. */
uint16_t dpdk_shim_refcnt_read(const struct rte_mbuf *m);

/* rte_mbuf_refcnt_update: add `v` and return the new count. */
uint16_t dpdk_shim_refcnt_update(struct rte_mbuf *m, int16_t v);

/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP (macros built from RTE_BIT64). */
uint64_t dpdk_shim_rss_ip_tcp_udp(void);

/* RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM. */
uint64_t dpdk_shim_rx_offload_l4_csum(void);

#endif
