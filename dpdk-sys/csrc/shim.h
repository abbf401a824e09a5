/*
 * Real symbols for DPDK's static inline functions and function-like macros,
 * which bindgen cannot bind. Every function here is a one-line forwarder.
 */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H

#include <stdint.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

/* errno and lcore id are per-lcore thread-locals. */
int shim_rte_errno(void);
unsigned shim_rte_lcore_id(void);
uint64_t shim_rte_rdtsc(void);

/* ethdev fast path */
uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			       struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			       struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* mbuf */
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
				unsigned count);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
uint16_t shim_rte_mbuf_refcnt_read(const struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);

/* Constants that are macros built from RTE_BIT64() and friends. */
extern const uint64_t SHIM_RTE_ETH_RSS_IP;
extern const uint64_t SHIM_RTE_ETH_RSS_TCP;
extern const uint64_t SHIM_RTE_ETH_RSS_UDP;
extern const uint16_t SHIM_RTE_MBUF_DEFAULT_BUF_SIZE;

#endif
