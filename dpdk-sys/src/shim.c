/* See shim.h. Every function here is a thin wrapper over a DPDK inline function. */
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "shim.h"

int dpdk_shim_errno(void)
{
	return rte_errno;
}

uint16_t dpdk_shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
			    struct dpdk_shim_rx *info, uint16_t n)
{
	uint16_t got = rte_eth_rx_burst(port, queue, pkts, n);

	for (uint16_t i = 0; i < got; i++) {
		const struct rte_mbuf *m = pkts[i];
		uint64_t ol = m->ol_flags;
		uint16_t flags = 0;

		info[i].data = rte_pktmbuf_mtod(m, uint8_t *);
		info[i].len = m->data_len;
		info[i].pkt_len = m->pkt_len;
		info[i].rss = 0;
		info[i].vlan_tci = 0;
		if (ol & RTE_MBUF_F_RX_RSS_HASH) {
			flags |= DPDK_SHIM_RX_RSS;
			info[i].rss = m->hash.rss;
		}
		if (ol & RTE_MBUF_F_RX_VLAN_STRIPPED) {
			flags |= DPDK_SHIM_RX_VLAN_STRIPPED;
			info[i].vlan_tci = m->vlan_tci;
		}
		switch (ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
		case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
			flags |= DPDK_SHIM_RX_L4_CSUM_GOOD;
			break;
		case RTE_MBUF_F_RX_L4_CKSUM_NONE:
			flags |= DPDK_SHIM_RX_L4_CSUM_NONE;
			break;
		case RTE_MBUF_F_RX_L4_CKSUM_BAD:
			flags |= DPDK_SHIM_RX_L4_CSUM_BAD;
			break;
		default:
			break;
		}
		info[i].flags = flags;
	}
	return got;
}

uint16_t dpdk_shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
			    const uint16_t *lens, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		if (lens[i] != 0) {
			pkts[i]->data_len = lens[i];
			pkts[i]->pkt_len = lens[i];
		}
	}
	return rte_eth_tx_burst(port, queue, pkts, n);
}

int dpdk_shim_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, uint8_t **data,
			 unsigned int n)
{
	int rc = rte_pktmbuf_alloc_bulk(mp, pkts, n);

	if (rc != 0)
		return rc;
	for (unsigned int i = 0; i < n; i++)
		data[i] = rte_pktmbuf_mtod(pkts[i], uint8_t *);
	return 0;
}

struct rte_mbuf *dpdk_shim_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

void dpdk_shim_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

uint8_t *dpdk_shim_data(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, uint8_t *);
}

uint16_t dpdk_shim_pool_room(struct rte_mempool *mp)
{
	uint16_t room = rte_pktmbuf_data_room_size(mp);

	return room > RTE_PKTMBUF_HEADROOM ? room - RTE_PKTMBUF_HEADROOM : 0;
}

void dpdk_shim_set_len(struct rte_mbuf *m, uint16_t len)
{
	m->data_len = len;
	m->pkt_len = len;
}

uint16_t dpdk_shim_refcnt_read(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m);
}

uint16_t dpdk_shim_refcnt_update(struct rte_mbuf *m, int16_t v)
{
	return rte_mbuf_refcnt_update(m, v);
}

uint64_t dpdk_shim_rss_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

uint64_t dpdk_shim_rx_offload_l4_csum(void)
{
	return RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
}
