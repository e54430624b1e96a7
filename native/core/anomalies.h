// Reasons a packet is not (fully) analysed. Counted per reason in the
// engine's statistics; never a crash and never silent. Where Zeek raises a
// weird for the same condition, the reason carries the weird's name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tcpsensor {

#define TCPSENSOR_ANOMALIES(X)                                                          \
    X(link_truncated)                 /* shorter than its link-layer headers */         \
    X(truncated_IP)                   /* fewer bytes than a minimal IP header */        \
    X(unknown_ip_version)                                                               \
    X(ip_hdr_len_zero)                /* IPv4 total length 0 (segmentation offload) */  \
    X(truncated_IP_len)               /* wire length below the IP total length */       \
    X(invalid_IP_header_size)         /* header longer than the total length */         \
    X(internally_truncated_IP_header) /* header not fully captured */                   \
    X(IPv4_min_header_size)                                                             \
    X(IPv6_min_header_size)                                                             \
    X(bad_IP_checksum)                                                                  \
    X(bogus_IP_header_lengths)                                                          \
    X(ipv6_no_next)                                                                     \
    X(incompletely_captured_fragment)                                                   \
    X(fragment_protocol_inconsistency)                                                  \
    X(fragment_size_inconsistency)                                                      \
    X(fragment_inconsistency)         /* overlapping fragments with other bytes */      \
    X(fragment_overlap)                                                                 \
    X(excessively_small_fragment)                                                       \
    X(excessively_large_fragment)                                                       \
    X(fragment_with_DF)                                                                 \
    X(fragment_memory_exceeded)       /* our bound; the fragment set is dropped */      \
    X(truncated_header)               /* TCP header shorter than 20 bytes */            \
    X(internally_truncated_header)    /* TCP header not fully captured */               \
    X(bad_TCP_header_len)             /* data offset below 5 */                         \
    X(bad_TCP_checksum)                                                                 \
    X(truncated_GRE)                                                                    \
    X(unknown_gre_version)                                                              \
    X(egre_protocol_type)                                                               \
    X(gre_routing)                                                                      \
    X(unknown_gre_flags)                                                                \
    X(non_ip_packet_in_encap)                                                           \
    X(invalid_inner_IP_version)                                                         \
    X(truncated_inner_IP)                                                               \
    X(inner_IP_payload_length_mismatch)                                                 \
    X(exceeded_tunnel_max_depth)                                                        \
    X(truncated_UDP_header)           /* Zeek: truncated_header, for UDP */             \
    X(internally_truncated_UDP_header) /* Zeek: internally_truncated_header, for UDP */ \
    X(bad_UDP_checksum)                                                                 \
    X(tunnel_protocol_violation)      /* a UDP tunnel's header refused (sticky) */      \
    X(udp_sessions_full)              /* our bound on tracked outer UDP flows */        \
    X(reassembly_memory_exceeded)     /* an endpoint flushed by our reassembly bounds */ \
    X(history_truncated)              /* history longer than we keep */                 \
    X(shard_step_full)                /* sharded reading: a frame made more datagrams than a step holds */

enum class Anomaly : uint8_t {
#define TCPSENSOR_ANOMALY_ENUM(name) name,
    TCPSENSOR_ANOMALIES(TCPSENSOR_ANOMALY_ENUM)
#undef TCPSENSOR_ANOMALY_ENUM
        Count
};

inline constexpr std::string_view kAnomalyNames[] = {
#define TCPSENSOR_ANOMALY_NAME(name) #name,
    TCPSENSOR_ANOMALIES(TCPSENSOR_ANOMALY_NAME)
#undef TCPSENSOR_ANOMALY_NAME
};

constexpr size_t kAnomalyCount = static_cast<size_t>(Anomaly::Count);

}  // namespace tcpsensor
