// Unit tests of the core's data structures, built with the core alone
// (no libpcap, no N-API). The behaviour tests of Zeek's semantics are the
// ava suite's, on crafted traces.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "../core/block_list.h"
#include "../core/decode.h"
#include "../core/engine.h"
#include "../core/output/event_writer.h"
#include "../core/output/json_text.h"
#include "../core/output/text_batch_format.h"
#include "../core/output/text_renderer.h"
#include "../core/flow_table.h"
#include "../core/shard.h"
#include "../core/history.h"
#include "../core/fragments.h"
#include "../core/timer_queue.h"
#include "../core/udp_sessions.h"
#include "../fuzz/batch_checker.h"
#include "../tools/batch_counter.h"

using namespace tcpsensor;

namespace {

int failures = 0;
int checks = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        ++checks;                                                                \
        if (!(cond)) {                                                           \
            ++failures;                                                          \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

std::vector<std::pair<uint64_t, uint64_t>> spans(const BlockList& l) {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const StreamBlock& b : l) out.emplace_back(b.seq, b.upper);
    return out;
}

// Where an iterator stands in its list.
size_t at(const BlockList& l, BlockList::iterator it) { return static_cast<size_t>(std::distance(l.begin(), it)); }

using Spans = std::vector<std::pair<uint64_t, uint64_t>>;

void block_list_inserts_only_uncovered_stretches() {
    BlockMemory mem;
    BlockList l(&mem);
    const uint8_t data[64] = {0};
    size_t added;
    CHECK(at(l, l.insert(10, 20, data, &added)) == 0 && added == 1);
    CHECK(at(l, l.insert(20, 30, data, &added)) == 1 && added == 1);  // append
    // Covered entirely: no block added; the answer is the block holding the end.
    CHECK(at(l, l.insert(12, 18, data, &added)) == 0 && added == 0);
    CHECK(at(l, l.insert(15, 25, data, &added)) == 1 && added == 0);
    // Straddles a hole: prefix, the hole between, and the tail become blocks.
    CHECK(at(l, l.insert(40, 50, data, &added)) == 2 && added == 1);
    CHECK(at(l, l.insert(5, 60, data, &added)) == 0 && added == 3);
    CHECK((spans(l) == Spans{{5, 10}, {10, 20}, {20, 30}, {30, 40}, {40, 50}, {50, 60}}));
    CHECK(l.data_size() == 55);
    CHECK(at(l, l.first_ending_after(29)) == 2 && at(l, l.first_ending_after(30)) == 3 && l.first_ending_after(60) == l.end());
    l.settle(0, false, false);
    // Adjacent intervals become one, which costs only its node.
    CHECK((spans(l) == Spans{{5, 60}}) && l.data_size() == 55);
    CHECK(mem.bytes_held == BlockList::kNodeCost && l.charge() == mem.bytes_held && mem.blocks_held == 1);
    l.pop_front();
    CHECK(l.empty() && l.data_size() == 0 && mem.bytes_held == 0 && mem.holders() == 0);
}

void block_list_keeps_bytes_only_when_asked() {
    BlockMemory mem;
    BlockList l(&mem);
    const char* text = "abcdefghij";
    size_t added;
    l.insert(100, 110, reinterpret_cast<const uint8_t*>(text), &added);
    l.insert(120, 125, reinterpret_cast<const uint8_t*>(text), &added);
    CHECK(l.transient_cost(110, true) == alloc_cost(5) && l.transient_cost(110, false) == 32);
    // Delivered below 110: forgotten; above: kept as a copy.
    l.settle(110, true, false);
    CHECK(l.front().bytes == nullptr);
    CHECK(l.back().bytes != nullptr && std::memcmp(l.back().bytes, "abcde", 5) == 0);
    CHECK(mem.bytes_held == alloc_cost(5) + 2 * BlockList::kNodeCost);
    l.clear();
    CHECK(mem.bytes_held == 0 && mem.blocks_held == 0 && mem.holders() == 0);
}

void block_list_merges_intervals_and_collapses_what_is_delivered() {
    BlockMemory mem;
    BlockList l(&mem);
    // In-order intervals are one block.
    l.append_interval(1, 101);
    l.append_interval(101, 201);
    CHECK(l.count() == 1 && l.back().upper == 201 && l.data_size() == 200);
    // Out-of-order data above two holes, kept.
    const uint8_t data[100] = {0};
    size_t added;
    l.insert(301, 401, data, &added);
    l.insert(451, 501, data, &added);
    l.settle(201, true, false);
    CHECK(l.count() == 3 && l.data_size() == 350);
    // Once everything is delivered or declared missing, one interval from
    // the trim point; the holes (1 byte before, 100 + 50 between) are kept
    // apart from the data size.
    l.collapse(0, 501);
    CHECK((spans(l) == Spans{{0, 501}}) && l.front().bytes == nullptr);
    CHECK(l.data_size() == 350 && l.front_holes() == 151);
    CHECK(mem.bytes_held == BlockList::kNodeCost && mem.blocks_held == 1);
    l.append_interval(501, 601);
    CHECK(l.count() == 1 && l.data_size() == 450);
    l.pop_front();
    CHECK(l.empty() && l.data_size() == 0 && l.front_holes() == 0);
    // Forgetting bytes merges what they kept apart.
    l.insert(700, 750, data, &added);
    l.insert(750, 800, data, &added);
    l.settle(0, true, true);
    CHECK(l.count() == 2 && l.owns_bytes());
    l.forget_bytes();
    CHECK((spans(l) == Spans{{700, 800}}) && !l.owns_bytes() && mem.bytes_held == BlockList::kNodeCost);
}

void block_list_inserts_in_any_order_at_the_same_cost() {
    // Reverse order and middle-out order build the same list as in order.
    BlockMemory mem;
    const uint8_t data[1] = {0};
    size_t added;
    for (int order = 0; order < 3; ++order) {
        BlockList l(&mem);
        const uint64_t n = 4096;
        for (uint64_t i = 0; i < n; ++i) {
            uint64_t k = i;
            if (order == 1) k = n - 1 - i;
            if (order == 2) {
                // bit-reversed: each lands between two already there
                k = 0;
                for (uint64_t b = i, bits = 12; bits > 0; --bits, b >>= 1) k = (k << 1) | (b & 1);
            }
            l.insert(2 * k, 2 * k + 1, data, &added);
            l.settle(0, true, true);
        }
        CHECK(l.count() == n && l.data_size() == n && l.front().seq == 0 && l.back().upper == 2 * n - 1);
    }
    CHECK(mem.bytes_held == 0 && mem.blocks_held == 0);
}

void block_memory_names_the_oldest_holder_above_its_fair_share() {
    BlockMemory mem;
    std::vector<std::unique_ptr<BlockList>> lists;
    const uint8_t data[4096] = {0};
    auto hold = [&](BlockList& l, uint64_t from, uint64_t n) {
        size_t added;
        l.insert(from, from + n, data, &added);
        l.settle(0, true, true);
    };
    for (int i = 0; i < 5; ++i) lists.push_back(std::make_unique<BlockList>(&mem));
    hold(*lists[0], 10, 200);   // small, oldest
    hold(*lists[1], 10, 4000);  // large
    hold(*lists[2], 10, 4000);  // large, younger
    hold(*lists[3], 10, 300);   // small, youngest
    hold(*lists[4], 10, 20);    // a block of 20 bytes: too little to be in the index
    CHECK(mem.holders() == 4 && mem.bytes_held == [&] {
        uint64_t sum = 0;
        for (const auto& l : lists) sum += l->charge();
        return sum;
    }());
    // Fair share of 8000: 2000 each; of the two above it, the older.
    CHECK(mem.victim(8000) == lists[1].get());
    // A generous bound makes everyone's share large: then no one is above
    // it, and the oldest of all is named.
    CHECK(mem.victim(1u << 30) == lists[0].get());
    // Growing into a larger class is entering it anew.
    hold(*lists[1], 5000, 4000);
    CHECK(mem.victim(8000) == lists[2].get());
    // Passed over: to the back of its class.
    mem.requeue(lists[2].get());
    CHECK(mem.victim(8000) == lists[1].get());
    const uint64_t total = mem.bytes_held;
    lists[1]->clear();
    CHECK(mem.holders() == 3 && mem.bytes_held < total);
    CHECK(mem.victim(100) != lists[4].get());
    lists.clear();
    CHECK(mem.holders() == 0 && mem.bytes_held == 0);
}

void flow_table_finds_both_directions_and_survives_erasure() {
    FlowTable t(42);
    std::vector<Connection*> made;
    auto ep = [](uint32_t host, uint16_t port) {
        uint8_t a[4] = {10, 0, static_cast<uint8_t>(host >> 8), static_cast<uint8_t>(host)};
        return Endpoint4{IpAddress::from_v4(a), port};
    };
    for (uint32_t i = 0; i < 5000; ++i) {
        const Endpoint4 a = ep(i, 1000), b = ep(i + 1, 80);
        Connection* c = t.insert(t.hash(a, b), 0);
        c->side[0] = a;
        c->side[1] = b;
        made.push_back(c);
    }
    CHECK(t.size() == 5000);
    for (uint32_t i = 0; i < 5000; i += 2) t.erase(made[i]);
    bool all = true;
    for (uint32_t i = 0; i < 5000; ++i) {
        const Endpoint4 a = ep(i, 1000), b = ep(i + 1, 80);
        Connection* found = t.find(b, a, t.hash(b, a)).full;  // reverse direction
        all = all && ((i % 2) ? found == made[i] : found == nullptr);
    }
    CHECK(all);
    CHECK(t.hash(ep(1, 2), ep(3, 4)) == t.hash(ep(3, 4), ep(1, 2)));
}

std::vector<uint8_t> ipv4_tcp(uint16_t ip_len_override = 0) {
    std::vector<uint8_t> p(40, 0);
    p[0] = 0x45;
    const uint16_t len = ip_len_override ? ip_len_override : 40;
    p[2] = static_cast<uint8_t>(len >> 8);
    p[3] = static_cast<uint8_t>(len);
    p[8] = 64;
    p[9] = 6;
    const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
    std::memcpy(&p[12], src, 4);
    std::memcpy(&p[16], dst, 4);
    const uint16_t sum = static_cast<uint16_t>(~ones_complement_sum(p.data(), 20));
    p[10] = static_cast<uint8_t>(sum >> 8);
    p[11] = static_cast<uint8_t>(sum);
    p[20 + 12] = 5 << 4;
    return p;
}

void decode_checks_ip_like_zeek() {
    std::vector<uint8_t> frame = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00};
    const auto ip = ipv4_tcp();
    frame.insert(frame.end(), ip.begin(), ip.end());
    uint32_t l3 = 0;
    CHECK(decode_link(linktype::kEthernet, frame.data(), static_cast<uint32_t>(frame.size()), &l3) == LinkResult::Ip);
    CHECK(l3 == 18);
    IpPacket p;
    Anomaly why;
    CHECK(parse_ip(frame.data() + l3, 40, 40, false, &p, &why) == IpResult::Ok);
    CHECK(p.proto == 6 && p.payload_len == 20 && p.captured_payload == 20);
    // The wire length below the total length: Zeek's truncated_IP_len.
    CHECK(parse_ip(frame.data() + l3, 40, 39, false, &p, &why) == IpResult::Drop && why == Anomaly::truncated_IP_len);
    auto bad = ip;
    bad[10] ^= 0xff;
    CHECK(parse_ip(bad.data(), 40, 40, false, &p, &why) == IpResult::Drop && why == Anomaly::bad_IP_checksum);
    CHECK(parse_ip(bad.data(), 40, 40, true, &p, &why) == IpResult::Ok);
    CHECK(parse_ip(ip.data(), 19, 40, false, &p, &why) == IpResult::Drop && why == Anomaly::truncated_IP);
}

// A 20-byte-header IPv4 fragment of datagram `id`, its payload bytes
// counting up from its offset.
std::vector<uint8_t> ipv4_fragment(uint16_t id, uint16_t offset, bool more, size_t len) {
    std::vector<uint8_t> p(20 + len, 0);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>((20 + len) >> 8);
    p[3] = static_cast<uint8_t>(20 + len);
    p[4] = static_cast<uint8_t>(id >> 8);
    p[5] = static_cast<uint8_t>(id);
    const uint16_t off = static_cast<uint16_t>((more ? 0x2000 : 0) | (offset / 8));
    p[6] = static_cast<uint8_t>(off >> 8);
    p[7] = static_cast<uint8_t>(off);
    p[9] = 6;
    p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
    for (size_t i = 0; i < len; ++i) p[20 + i] = static_cast<uint8_t>(offset + i);
    return p;
}

IpPacket parse_fragment(const std::vector<uint8_t>& v) {
    IpPacket p;
    Anomaly why;
    parse_ip(v.data(), static_cast<uint32_t>(v.size()), static_cast<uint32_t>(v.size()), true, &p, &why);
    return p;
}

// Datagrams that complete are forgotten, their expiry entries too: with a
// long timeout, a stream of fragmented traffic must not pile them up.
void fragments_forget_finished_datagrams() {
    FragmentReassembler f(1 << 20, 1e6);
    uint64_t anomalies[kAnomalyCount] = {};
    IpPacket out;
    // One datagram always pending, and 100,000 that complete.
    CHECK(!f.add(parse_fragment(ipv4_fragment(0, 0, true, 24)), 1.0, &out, anomalies));
    bool all = true;
    for (uint32_t i = 1; i <= 100000; ++i) {
        const auto id = static_cast<uint16_t>(i % 60000 + 1);
        all = all && !f.add(parse_fragment(ipv4_fragment(id, 0, true, 24)), 1.0 + i, &out, anomalies);
        all = all && f.add(parse_fragment(ipv4_fragment(id, 24, false, 8)), 1.0 + i, &out, anomalies);
    }
    CHECK(all);
    CHECK(f.sets() == 1);
    CHECK(f.queued_expiries() <= 2 * f.sets() + 64);
    // The pending one still expires in its time.
    f.expire(1e6 + 0.5);
    CHECK(f.sets() == 1);
    f.expire(1e6 + 1.0);
    CHECK(f.sets() == 0);
}

void fragments_reassemble_out_of_order() {
    FragmentReassembler f(1 << 20, 30);
    uint64_t anomalies[kAnomalyCount] = {};
    // A 32-byte datagram (20 TCP header + 12 payload) in two fragments, last first.
    const auto second = ipv4_fragment(7, 16, false, 16), first = ipv4_fragment(7, 0, true, 16);
    IpPacket out;
    CHECK(!f.add(parse_fragment(second), 1.0, &out, anomalies));
    CHECK(f.add(parse_fragment(first), 1.1, &out, anomalies));
    CHECK(out.total_len == 52 && !out.is_fragment && out.proto == 6);
    bool in_order = true;
    for (uint32_t i = 0; i < 32; ++i) in_order = in_order && out.payload[i] == i;
    CHECK(in_order);
    CHECK(f.sets() == 0 && f.bytes() == 0);
    // An unfinished set expires.
    CHECK(!f.add(parse_fragment(second), 2.0, &out, anomalies));
    f.expire(40.0);
    CHECK(f.sets() == 0);
}

void event_writer_batches_end_between_groups() {
    BatchCounter counter;
    EventSet events;
    events.set(static_cast<size_t>(EventKind::new_connection));
    EventWriter w(events, 2, 1 << 20, &counter);
    Connection c;
    for (int i = 0; i < 5; ++i) {
        w.begin_group(1.0 + i);
        w.conn_event(EventKind::new_connection, c);
        w.end_group();
    }
    CHECK(counter.batches == 2);  // 2 + 2 events, the fifth still open
    w.flush();
    CHECK(counter.batches == 3 && counter.by_kind[1] == 5);
}

// Batch buffers are recycled, and JavaScript sees all of a batch through
// any byte argument: the writer must leave no byte of an earlier batch in
// reserved fields, padding or a snapshot's spare room. The pool is filled
// with dirty buffers first; every event shape then goes through the fuzz
// targets' batch checker (which aborts on a stale byte).
void event_writer_leaves_no_stale_bytes() {
    std::vector<std::pair<uint8_t*, uint32_t>> dirty;
    for (int i = 0; i < 16; ++i) {
        uint32_t capacity;
        uint8_t* b = acquire_batch_buffer(8192, &capacity);
        std::memset(b, 0xAA, capacity);
        dirty.emplace_back(b, capacity);
    }
    for (const auto& [b, capacity] : dirty) release_batch_buffer(b, capacity);

    const EventSet events = EventSet().set();
    fuzz::BatchChecker checker(events);
    EventWriter w(events, 1000, 4096, &checker);
    Connection c;
    c.side[0] = Endpoint4{IpAddress::from_v4(reinterpret_cast<const uint8_t*>("\x0a\0\0\x01")), 1};
    c.side[1] = Endpoint4{IpAddress::from_v4(reinterpret_cast<const uint8_t*>("\x0a\0\0\x02")), 2};
    const uint8_t bytes[5] = {1, 2, 3, 4, 5};
    const TcpOptionEntry opts[3] = {{1, 1, TcpOptionEntry::kBare, bytes, 0},
                                    {2, 4, TcpOptionEntry::kDecoded, bytes, 2},
                                    {99, 5, TcpOptionEntry::kData, bytes, 3}};
    w.begin_group(1.0);
    w.conn_event(EventKind::new_connection, c);
    w.is_orig_event(EventKind::connection_EOF, c, true);
    w.threshold_event(EventKind::tcp_multiple_gap, c, false, 10);
    w.syn_packet(c, SynPacketInfo{true, true, 64, true, 60, 1024, 7, 1460, true, 1, 2});
    w.tcp_packet(c, true, 0x18, 1, 1, 5, bytes, 3);
    w.tcp_option(c, true, 2, 4);
    w.tcp_options(c, false, opts, 3);
    w.tcp_contents(c, true, 1, bytes, 5);
    w.tcp_rexmit(c, false, 1, 5, 0, 100);
    w.conn_weird(c, "odd");
    w.content_gap(c, true, 1, 7);
    w.write_failure(c, false, "nope");
    w.rexmit_inconsistency(c, bytes, bytes + 1, 3, 0x18);
    // A history outgrowing its snapshot's room moves the snapshot.
    for (const char* h = "ShADadFfTtCcGg"; *h; ++h) {
        c.history.add(*h);
        w.conn_event(EventKind::connection_flipped, c);
    }
    w.end_group();
    w.flush();
    CHECK(checker.batches() == 1 && checker.events() == 27);
}

// A sharded capture says what a lone engine says about the capture as a
// whole: with every IP checksum bad in a short capture, the warning comes
// from the look at the end (found by fuzz-packets' sharded comparison:
// the dispatcher's decoder was never ended, so that look never came).
void sharded_capture_warns_of_checksum_offload_at_the_end() {
    struct Notices : BatchCounter {
        int seen = 0;
        void on_notice(const Notice&) override { ++seen; }
    };
    auto bad = ipv4_tcp();
    bad[10] ^= 0xff;  // IP header checksum
    const int raw = linktype::kRaw;
    Options options;
    Notices lone_notices;
    {
        Engine lone(options, raw, &lone_notices, 1);
        for (int i = 0; i < 5; ++i) lone.process(PacketView{100.0 + i, bad.data(), 40, 40});
        lone.finish();
    }
    Notices decoder_notices, worker_notices;
    Dispatcher dispatcher(options, raw, &decoder_notices, 1, 2);
    Engine w0(options, raw, &worker_notices, 1), w1(options, raw, &worker_notices, 1);
    ShardStep step(1 << 20);
    for (int i = 0; i < 5; ++i) CHECK(dispatcher.add(PacketView{100.0 + i, bad.data(), 40, 40}, &step));
    apply_step(w0, step, 0);
    apply_step(w1, step, 1);
    w0.finish();
    w1.finish();
    dispatcher.finish();
    CHECK(lone_notices.seen == 1);
    CHECK(decoder_notices.seen == 1 && worker_notices.seen == 0);
}

// An 802.11 A-MSDU frame carries several packets; here SYNs of two
// connections, which a sharded capture may hand to two workers. Each
// connection must get the uid a lone engine gives it, and the two must
// differ (found by fuzz-packets: uids counted the connections a frame had
// made in one engine, so two workers gave two connections the same uid).
void sharded_capture_gives_a_frames_connections_their_own_uids() {
    const auto amsdu = [](uint8_t port_a, uint8_t port_b) {
        std::vector<uint8_t> frame = {0x88, 0x01, 0, 0, 2, 0, 0, 0, 0, 1, 2, 0, 0,
                                      0,    0,    2, 2, 0, 0, 0, 0, 2, 0, 0, 0x80, 0};  // QoS data, A-MSDU
        for (const uint8_t port : {port_a, port_b}) {
            auto syn = ipv4_tcp();
            syn[20 + 1] = port;   // source port
            syn[20 + 3] = 80;     // destination port
            syn[20 + 13] = 0x02;  // SYN
            const std::vector<uint8_t> snap = {0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00};
            const auto len = static_cast<uint16_t>(snap.size() + syn.size());
            const std::vector<uint8_t> sub = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, static_cast<uint8_t>(len >> 8),
                                              static_cast<uint8_t>(len)};
            frame.insert(frame.end(), sub.begin(), sub.end());
            frame.insert(frame.end(), snap.begin(), snap.end());
            frame.insert(frame.end(), syn.begin(), syn.end());
            if (port == port_a) frame.insert(frame.end(), len % 4, 0);  // padding, all but the last
        }
        return frame;
    };
    Options options;
    options.ignore_checksums = true;
    const int wifi = linktype::kIeee80211;
    // Two connections that the dispatcher puts on different workers.
    std::vector<uint8_t> frame;
    for (uint8_t port = 2; port < 64 && frame.empty(); ++port) {
        auto candidate = amsdu(1, port);
        Dispatcher probe(options, wifi, nullptr, 1, 2);
        ShardStep step(1 << 20);
        const auto n = static_cast<uint32_t>(candidate.size());
        probe.add(PacketView{100.0, candidate.data(), n, n}, &step);
        if (step.segments.size() == 2 && step.segments[0].worker != step.segments[1].worker) frame = candidate;
    }
    CHECK(!frame.empty());
    const auto n = static_cast<uint32_t>(frame.size());
    const auto uids = [](const fuzz::BatchChecker& c) {
        std::vector<uint64_t> u;
        for (const auto& e : c.digests())
            if (std::find(u.begin(), u.end(), e.uid) == u.end()) u.push_back(e.uid);
        return u;
    };
    fuzz::BatchChecker lone_events(options.events);
    {
        Engine lone(options, wifi, &lone_events, 1);
        lone.process(PacketView{100.0, frame.data(), n, n});
        lone.finish();
    }
    Dispatcher dispatcher(options, wifi, nullptr, 1, 2);
    fuzz::BatchChecker w0_events(options.events), w1_events(options.events);
    Engine w0(options, wifi, &w0_events, 1), w1(options, wifi, &w1_events, 1);
    ShardStep step(1 << 20);
    CHECK(dispatcher.add(PacketView{100.0, frame.data(), n, n}, &step));
    apply_step(w0, step, 0);
    apply_step(w1, step, 1);
    w0.finish();
    w1.finish();
    dispatcher.finish();
    auto sharded = uids(w0_events);
    for (uint64_t u : uids(w1_events)) sharded.push_back(u);
    auto lone = uids(lone_events);
    std::sort(sharded.begin(), sharded.end());
    std::sort(lone.begin(), lone.end());
    CHECK(lone.size() == 2);
    CHECK(sharded == lone);
}

// Timers fire in due order, FIFO among equal due times, whether they wait
// in the current second's heap, the ring or the far heap; at the end of
// input too, where the backlog is drained second by second.
void timer_queue_fires_in_due_order_then_arming_order() {
    TimerQueue q;
    std::vector<uint32_t> fired;
    const auto all = [](const TimerEntry&) { return true; };
    const auto collect = [&](const TimerEntry& e) { fired.push_back(e.slot); };
    q.advance(100.0, all);
    // slot = arming order; equal dues must come out in arming order.
    q.add(100.5, 0, 0, TimerKind::Expire, 0);   // current second: heap
    q.add(3000.0, 1, 0, TimerKind::Expire, 0);  // beyond the ring: far heap
    q.add(105.25, 2, 0, TimerKind::Expire, 0);  // ring
    q.add(100.5, 3, 0, TimerKind::Expire, 0);
    q.add(105.25, 4, 0, TimerKind::Expire, 0);
    q.add(3000.0, 5, 0, TimerKind::Expire, 0);
    q.add(104.0, 6, 0, TimerKind::Attempt, 0);
    q.advance(105.5, all);
    while (q.ready(105.5)) collect(q.pop());
    CHECK((fired == std::vector<uint32_t>{0, 3, 6, 2, 4}));
    // The rest at the end of input, with a filter: the ring and the far heap.
    fired.clear();
    q.add(200.0, 7, 0, TimerKind::Attempt, 0);
    q.add(3000.0, 8, 0, TimerKind::Expire, 0);
    q.add(200.0, 9, 0, TimerKind::Reset, 0);
    q.drain([](const TimerEntry& e) { return e.slot != 9; }, collect);
    CHECK((fired == std::vector<uint32_t>{7, 1, 5, 8}));
    CHECK(q.empty() && q.size() == 0);
}

// Purging dead entries early changes nothing that fires, nor its order.
void timer_queue_purge_keeps_the_live_in_order() {
    TimerQueue q;
    const auto all = [](const TimerEntry&) { return true; };
    const auto even = [](const TimerEntry& e) { return e.slot % 2 == 0; };
    q.advance(100.0, all);
    for (uint32_t i = 0; i < 3000; ++i) {
        const double due = 100.25 + (i % 7) * (i % 3 ? 0.5 : 700.0);  // heap, ring and far heap
        q.add(due, i, 0, TimerKind::Expire, 0);
    }
    q.purge(even);
    CHECK(q.size() == 1500);
    std::vector<uint32_t> fired;
    q.drain(all, [&](const TimerEntry& e) { fired.push_back(e.slot); });
    bool ordered = fired.size() == 1500;
    for (size_t i = 1; i < fired.size(); ++i) {
        const auto due = [](uint32_t s) { return 100.25 + (s % 7) * (s % 3 ? 0.5 : 700.0); };
        const double a = due(fired[i - 1]), b = due(fired[i]);
        ordered = ordered && fired[i] % 2 == 0 && (a < b || (a == b && fired[i - 1] < fired[i]));
    }
    CHECK(ordered);
}

// Connections that go away leave their timers behind; with timers armed an
// hour ahead, those must not pile up with the connection rate. One in a
// hundred stays live here: the queue stays near twice their number, and
// they still fire, in order.
void timer_queue_drops_dead_timers() {
    TimerQueue q;
    const auto live = [](const TimerEntry& e) { return e.slot % 100 == 0; };
    double now = 100.0;
    q.advance(now, live);
    size_t most = 0;
    for (uint32_t i = 0; i < 2000000; ++i) {
        q.add(now + 3600.0, i, 0, TimerKind::Inactivity, 0);  // 20,000 live at the end
        if (i % 1000 == 999) {
            now += 0.1;
            q.advance(now, live);
            most = std::max(most, q.size());
        }
    }
    CHECK(most <= 2 * (size_t{1} << 16) + 1000);
    std::vector<uint32_t> fired;
    q.drain(live, [&](const TimerEntry& e) { fired.push_back(e.slot); });
    CHECK(fired.size() == 20000);
    bool ordered = true;
    for (size_t i = 1; i < fired.size(); ++i) ordered = ordered && fired[i] > fired[i - 1];
    CHECK(ordered);
}

// Outer UDP flows: found in both directions, ended as Zeek's inactivity
// timer ends a connection (first due a timeout after the first packet,
// then a timeout after the last), and bounded (a full table refuses, after
// dropping ended flows).
void udp_sessions_end_and_stay_bounded() {
    UdpSessions s(7, 4);
    const auto ep = [](uint8_t host, uint16_t port) {
        const uint8_t a[4] = {10, 0, 0, host};
        return Endpoint4{IpAddress::from_v4(a), port};
    };
    UdpSession* first = s.insert(ep(1, 1000), ep(2, 3544), false, 10.0, 10.0, 60.0);
    CHECK(first && first->resp.port == 3544);
    const uint64_t id = first->id;
    CHECK(s.find(ep(2, 3544), ep(1, 1000), 69.9, 60.0) == first);
    first->last_time = 50.0;  // a packet at 50
    CHECK(s.find(ep(1, 1000), ep(2, 3544), 70.0, 60.0) == first);   // timer at 70 looks again at 110
    CHECK(s.find(ep(1, 1000), ep(2, 3544), 109.0, 60.0) == first);
    CHECK(s.find(ep(1, 1000), ep(2, 3544), 110.0, 60.0) == nullptr);  // idle 60 s: ended
    UdpSession* again = s.insert(ep(1, 1000), ep(2, 3544), false, 110.0, 110.0, 60.0);
    CHECK(again && again->id != id);
    // A packet stamped earlier than the first does not bring the timer forward.
    again->last_time = 100.0;
    CHECK(s.find(ep(1, 1000), ep(2, 3544), 165.0, 60.0) == again);
    for (uint16_t p = 1; p < 4; ++p) CHECK(s.insert(ep(3, p), ep(2, 4789), false, 110.0, 110.0, 60.0) != nullptr);
    CHECK(s.size() == 4);
    CHECK(s.insert(ep(4, 1), ep(2, 4789), false, 111.0, 111.0, 60.0) == nullptr);  // full of live flows
    CHECK(s.insert(ep(4, 1), ep(2, 4789), false, 240.0, 240.0, 60.0) != nullptr);  // the ended ones swept
    CHECK(s.size() == 1);
    // Alone, a flow keeps one identity of its own.
    CHECK(s.transient(ep(5, 1), ep(2, 4789), false, 1.0).id == s.transient(ep(2, 4789), ep(5, 1), true, 2.0).id);
}


// JSON text as JavaScript writes it; each expected string is what Node's
// JSON.stringify wrote for the value.
void json_numbers_as_javascript_writes_them() {
    const std::pair<double, const char*> cases[] = {
        {0.0, "0"},
        {-0.0, "0"},
        {1.0, "1"},
        {-1.0, "-1"},
        {0.10000000000000001, "0.1"},
        {1.0000000000000000e+21, "1e+21"},
        {9.9999999999999995e-8, "1e-7"},
        {9.9999999999999995e-7, "0.000001"},
        {1.23e-18, "1.23e-18"},
        {9007199254740992.0, "9007199254740992"},
        {1.8446744073709552e+19, "18446744073709552000"},
        {1.5000000000000001e+300, "1.5e+300"},
        {-2.5e-300, "-2.5e-300"},
        {4.9406564584124654e-324, "5e-324"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"},
        {1700000000.1234560, "1700000000.123456"},
        {9.5367431640625e-7, "9.5367431640625e-7"},
        {1.2345678901234568e+20, "123456789012345680000"},
        {1e20, "100000000000000000000"},
        {1234.5678, "1234.5678"},
        {4294967295.9999990, "4294967295.999999"},
        {std::nan(""), "null"},
        {HUGE_VAL, "null"},
        {-HUGE_VAL, "null"},
    };
    for (const auto& [v, text] : cases) {
        char buf[json::kNumberRoom + 1];
        *json::number(buf, v) = 0;
        CHECK(std::strcmp(buf, text) == 0);
        if (std::strcmp(buf, text) != 0) std::fprintf(stderr, "  wrote %s for %s\n", buf, text);
    }
    char buf[32];
    *json::unsigned_number(buf, ~uint64_t{0}) = 0;
    CHECK(std::strcmp(buf, "18446744073709552000") == 0);
    *json::unsigned_number(buf, (uint64_t{1} << 53) - 1) = 0;
    CHECK(std::strcmp(buf, "9007199254740991") == 0);
    *json::signed_number(buf, -1) = 0;
    CHECK(std::strcmp(buf, "-1") == 0);
}

std::string written(char* (*write)(char*, const uint8_t*, size_t), const std::string& bytes) {
    std::string out(6 * bytes.size() + 8, '\0');
    char* end = write(out.data(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    out.resize(static_cast<size_t>(end - out.data()));
    return out;
}

void json_strings_and_bytes_as_javascript_writes_them() {
    // Buffer.from([...]).toString('latin1') through JSON.stringify.
    CHECK(written(json::latin1_string, std::string("a\"b\\\n\x01\x7f\xe9\xff", 9)) == "\"a\\\"b\\\\\\n\\u0001\x7f\xc3\xa9\xc3\xbf\"");
    CHECK(written(json::base64_string, "") == "\"\"");
    CHECK(written(json::base64_string, "a") == "\"YQ==\"");
    CHECK(written(json::base64_string, "ab") == "\"YWI=\"");
    CHECK(written(json::base64_string, "abc\xff") == "\"YWJj/w==\"");
    const auto addr = [](std::initializer_list<uint8_t> b) {
        uint8_t bytes[16] = {};
        std::copy(b.begin(), b.end(), bytes);
        char out[json::kAddressRoom + 1];
        *json::address(out, bytes) = 0;
        return std::string(out);
    };
    CHECK(addr({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}) == "10.0.0.1");
    CHECK(addr({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) == "2001:db8::1");
    CHECK(addr({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) == "::1");
    CHECK(addr({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}) == "::1.2.3.4");
    CHECK(addr({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}) == "1:0:1::1:0:1");
    CHECK(addr({0xfe, 0x80}) == "fe80::");
    char uid[json::kUidRoom + 1];
    *json::uid(uid, 0) = 0;
    CHECK(std::strcmp(uid, "C0") == 0);
    *json::uid(uid, ~uint64_t{0}) = 0;
    CHECK(std::strcmp(uid, "CLygHa16AHYF") == 0);
}

// A batch the event writer made, rendered: one NDJSON line per event,
// with the connection's identity and record, and a conn.log row.
void text_renderer_renders_what_the_writer_wrote() {
    struct Keep : BatchConsumer {
        std::vector<Batch> batches;
        void on_batch(Batch b) override { batches.push_back(b); }
    } keep;
    EventSet events;
    events.set(static_cast<size_t>(EventKind::connection_EOF));
    events.set(static_cast<size_t>(EventKind::connection_state_remove));
    EventWriter w(events, 64, 1 << 20, &keep);
    Connection c;
    const uint8_t a[4] = {10, 0, 0, 1};
    const uint8_t b[4] = {10, 0, 0, 2};
    c.side[0] = Endpoint4{IpAddress::from_v4(a), 40000};
    c.side[1] = Endpoint4{IpAddress::from_v4(b), 80};
    c.uid = 62;
    c.start_time = 1.5;
    c.last_time = 2.0;
    c.history.assign("Sh");
    w.begin_group(2.0);
    w.is_orig_event(EventKind::connection_EOF, c, true);
    w.conn_event(EventKind::connection_state_remove, c);
    w.end_group();
    w.flush();
    CHECK(keep.batches.size() == 1);
    if (keep.batches.size() != 1) return;
    const Batch events_batch = keep.batches[0];
    const auto text_of = [](const Batch& t) {
        const uint32_t at = load_le32(t.data + 20);
        return std::string(reinterpret_cast<const char*>(t.data + at), load_le32(t.data + 24));
    };
    const std::string conn =
        "\"uid\":\"C10\",\"id\":{\"orig_h\":\"10.0.0.1\",\"orig_p\":40000,\"resp_h\":\"10.0.0.2\",\"resp_p\":80},"
        "\"conn\":{\"history\":\"Sh\",\"orig\":{\"size\":0,\"state\":0,\"num_pkts\":0,\"num_bytes_ip\":0},"
        "\"resp\":{\"size\":0,\"state\":0,\"num_pkts\":0,\"num_bytes_ip\":0},\"start_time\":1.5,\"duration\":0.5}";
    TextRenderer ndjson(TextFormat::Ndjson);
    Batch text;
    CHECK(ndjson.render(events_batch.data, events_batch.size, &text) == nullptr);
    CHECK(load_le32(text.data) == text_batch::kMagic && load_le32(text.data + 8) == 2);
    CHECK(text_of(text) == "{\"ts\":2,\"event\":\"connection_EOF\"," + conn + ",\"is_orig\":true}\n"
                           "{\"ts\":2,\"event\":\"connection_state_remove\"," + conn + "}\n");
    release_batch_buffer(text.data, text.capacity);

    TextRenderer rows(TextFormat::ConnLog);
    CHECK(rows.render(events_batch.data, events_batch.size, &text) == nullptr);
    CHECK(text_of(text) ==
          "{\"ts\":1.5,\"uid\":\"C10\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":40000,\"id.resp_h\":\"10.0.0.2\","
          "\"id.resp_p\":80,\"proto\":\"tcp\",\"conn_state\":\"OTH\",\"missed_bytes\":0,\"orig_pkts\":0,"
          "\"orig_ip_bytes\":0,\"resp_pkts\":0,\"resp_ip_bytes\":0,\"duration\":0.5,\"orig_bytes\":0,"
          "\"resp_bytes\":0,\"history\":\"Sh\"}\n");
    release_batch_buffer(text.data, text.capacity);

    // A batch that does not hold together is refused, not read past.
    std::vector<uint8_t> cut(events_batch.data, events_batch.data + events_batch.size - 8);
    CHECK(ndjson.render(cut.data(), static_cast<uint32_t>(cut.size()), &text) != nullptr);
    release_batch_buffer(events_batch.data, events_batch.capacity);
}

// A long history grows in place up to its cap and keeps every letter.
void history_grows_to_its_cap() {
    History h;
    std::string want;
    bool kept = true;
    for (size_t i = 0; i < History::kMax; ++i) {
        const char c = static_cast<char>('a' + i % 26);
        kept = kept && h.add(c);
        want.push_back(c);
        kept = kept && h.view() == want;
    }
    CHECK(kept);
    CHECK(!h.add('x') && h.size() == History::kMax);
    h.assign("^h");
    for (int i = 0; i < 100; ++i) h.add('z');
    CHECK(h.size() == 102 && h.view().substr(0, 3) == "^hz");
}

// A raw IPv4 TCP packet from 10.0.<host>.1:<port> to 10.0.0.2:80 (or
// back), checksums left for the engine to ignore.
std::vector<uint8_t> raw_tcp(uint8_t host, uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack, bool reply = false,
                             uint16_t window = 1024) {
    auto p = ipv4_tcp();
    uint8_t client[4] = {10, 0, host, 1};
    const uint8_t server[4] = {10, 0, 0, 2};
    std::memcpy(&p[reply ? 16 : 12], client, 4);
    std::memcpy(&p[reply ? 12 : 16], server, 4);
    p[10] = p[11] = 0;
    const uint16_t sum = static_cast<uint16_t>(~ones_complement_sum(p.data(), 20));
    p[10] = static_cast<uint8_t>(sum >> 8);
    p[11] = static_cast<uint8_t>(sum);
    uint8_t* t = &p[20];
    const uint16_t sport = reply ? 80 : port, dport = reply ? port : 80;
    t[0] = static_cast<uint8_t>(sport >> 8), t[1] = static_cast<uint8_t>(sport);
    t[2] = static_cast<uint8_t>(dport >> 8), t[3] = static_cast<uint8_t>(dport);
    for (int i = 0; i < 4; ++i) {
        t[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
        t[8 + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
    }
    t[13] = flags;
    t[14] = static_cast<uint8_t>(window >> 8), t[15] = static_cast<uint8_t>(window);
    return p;
}

// The same over IPv6, from 2001:db8::<host>.
std::vector<uint8_t> raw_tcp6(uint8_t host, uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack, bool reply = false) {
    const auto v4 = raw_tcp(host, port, flags, seq, ack, reply);
    std::vector<uint8_t> p(40, 0);
    p[0] = 0x60;
    p[5] = 20;  // payload length
    p[6] = 6;
    p[7] = 64;
    uint8_t client[16] = {0x20, 0x01, 0x0d, 0xb8}, server[16] = {0x20, 0x01, 0x0d, 0xb8};
    client[15] = host;
    server[15] = 0xfe;
    std::memcpy(&p[reply ? 24 : 8], client, 16);
    std::memcpy(&p[reply ? 8 : 24], server, 16);
    p.insert(p.end(), v4.begin() + 20, v4.end());
    return p;
}

struct Feeder {
    BatchCounter counter;
    Engine engine;
    explicit Feeder(const Options& o) : engine(o, linktype::kRaw, &counter, 1) {}
    void send(double ts, const std::vector<uint8_t>& p) {
        engine.process(PacketView{ts, p.data(), static_cast<uint32_t>(p.size()), static_cast<uint32_t>(p.size())});
        engine.flush();  // the counter sees finished batches only
    }
};

Options test_options() {
    Options o;
    o.ignore_checksums = true;
    o.events = all_event_set();
    return o;
}

// A SYN leaves a compact record; its answer, a timer coming due or the end
// of input brings the full record back; a SYN the compact form cannot hold
// (window 0: a zero-window letter in its history) stays full.
void compact_records_made_and_expanded() {
    Feeder f(test_options());
    f.send(100.0, raw_tcp(1, 1000, 0x02, 5000, 0));
    CHECK(f.engine.stats().connections_active == 1 && f.engine.stats().connections_compact == 1);
    f.send(100.1, raw_tcp(1, 1000, 0x12, 9000, 5001, true));  // SYN-ACK: expanded
    CHECK(f.engine.stats().connections_active == 1 && f.engine.stats().connections_compact == 0);
    f.send(100.2, raw_tcp(2, 1000, 0x02, 5000, 0, false, 0));
    CHECK(f.engine.stats().connections_active == 2 && f.engine.stats().connections_compact == 0);
    f.send(100.3, raw_tcp(3, 1000, 0x02, 5000, 0));
    CHECK(f.engine.stats().connections_compact == 1);
    // Its attempt timer (100.3 + 5) acts at the first packet after it.
    f.send(105.2, raw_tcp(4, 1000, 0x10, 1, 1));
    CHECK(f.engine.stats().connections_compact == 1 && f.counter.by_kind[static_cast<size_t>(EventKind::connection_attempt)] == 1);
    f.send(105.4, raw_tcp(4, 1000, 0x10, 1, 1));
    CHECK(f.engine.stats().connections_compact == 0 && f.counter.by_kind[static_cast<size_t>(EventKind::connection_attempt)] == 2);
    // IPv6: compact too (its addresses kept apart), found from both sides.
    f.send(106.0, raw_tcp6(7, 2000, 0x02, 5000, 0));
    CHECK(f.engine.stats().connections_compact == 1);
    const uint8_t c6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe};
    const Endpoint4 c6e{IpAddress::from_v6(c6), 2000}, s6e{IpAddress::from_v6(s6), 80};
    const uint64_t uid6 = f.engine.find_uid(s6e, c6e);
    CHECK(uid6 != 0);
    f.send(106.1, raw_tcp6(7, 2000, 0x12, 9000, 5001, true));
    CHECK(f.engine.stats().connections_compact == 0 && f.engine.find_uid(c6e, s6e) == uid6);

    f.engine.finish();
    CHECK(f.engine.stats().connections_active == 0);
    CHECK(f.counter.by_kind[static_cast<size_t>(EventKind::connection_state_remove)] == 5);

    // Off (the ava tests' reference), nothing is compacted.
    Options o = test_options();
    o.compact_records = false;
    Feeder g(o);
    g.send(100.0, raw_tcp(1, 1000, 0x02, 5000, 0));
    CHECK(g.engine.stats().connections_compact == 0);
}

// Past max_connections: compact records go first (oldest first), then
// one-sided connections, then two-sided ones, each least recently active
// first; every eviction is counted and the table never holds more.
void eviction_follows_the_order() {
    Options o = test_options();
    o.max_connections = 2;
    Feeder f(o);
    f.send(100.0, raw_tcp(1, 1000, 0x02, 5000, 0));
    f.send(100.0, raw_tcp(1, 1000, 0x12, 9000, 5001, true));  // two-sided
    f.send(101.0, raw_tcp(2, 1000, 0x10, 1, 1));              // one-sided
    f.send(102.0, raw_tcp(3, 1000, 0x02, 7000, 0));           // compact: evicts the one-sided
    CHECK(f.engine.stats().connections_evicted == 1 && f.engine.stats().connections_active == 2);
    f.send(103.0, raw_tcp(4, 1000, 0x02, 7000, 0));  // evicts the compact one
    f.send(104.0, raw_tcp(5, 1000, 0x10, 1, 1));     // and the next compact one
    CHECK(f.engine.stats().connections_evicted == 3 && f.engine.stats().connections_compact == 0);
    f.send(105.0, raw_tcp(6, 1000, 0x10, 1, 1));  // one-sided (104) before two-sided (100)
    f.send(106.0, raw_tcp(1, 1000, 0x10, 5001, 9001));
    const uint8_t client[4] = {10, 0, 1, 1}, server[4] = {10, 0, 0, 2};
    const Endpoint4 a{IpAddress::from_v4(client), 1000}, b{IpAddress::from_v4(server), 80};
    CHECK(f.engine.stats().connections_evicted == 4 && f.engine.find_uid(a, b) != 0);  // the two-sided one stays
    CHECK(f.engine.stats().connections_active == 2);
    f.engine.finish();
    // Evicted (4) and flushed (2) connections all got connection_state_remove.
    CHECK(f.counter.by_kind[static_cast<size_t>(EventKind::connection_state_remove)] == 6);
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"block_list_inserts_only_uncovered_stretches", block_list_inserts_only_uncovered_stretches},
        {"block_list_keeps_bytes_only_when_asked", block_list_keeps_bytes_only_when_asked},
        {"block_list_merges_intervals_and_collapses_what_is_delivered", block_list_merges_intervals_and_collapses_what_is_delivered},
        {"block_list_inserts_in_any_order_at_the_same_cost", block_list_inserts_in_any_order_at_the_same_cost},
        {"block_memory_names_the_oldest_holder_above_its_fair_share", block_memory_names_the_oldest_holder_above_its_fair_share},
        {"flow_table_finds_both_directions_and_survives_erasure", flow_table_finds_both_directions_and_survives_erasure},
        {"decode_checks_ip_like_zeek", decode_checks_ip_like_zeek},
        {"fragments_reassemble_out_of_order", fragments_reassemble_out_of_order},
        {"fragments_forget_finished_datagrams", fragments_forget_finished_datagrams},
        {"event_writer_batches_end_between_groups", event_writer_batches_end_between_groups},
        {"event_writer_leaves_no_stale_bytes", event_writer_leaves_no_stale_bytes},
        {"timer_queue_fires_in_due_order_then_arming_order", timer_queue_fires_in_due_order_then_arming_order},
        {"sharded_capture_warns_of_checksum_offload_at_the_end", sharded_capture_warns_of_checksum_offload_at_the_end},
        {"sharded_capture_gives_a_frames_connections_their_own_uids",
         sharded_capture_gives_a_frames_connections_their_own_uids},
        {"timer_queue_drops_dead_timers", timer_queue_drops_dead_timers},
        {"timer_queue_purge_keeps_the_live_in_order", timer_queue_purge_keeps_the_live_in_order},
        {"udp_sessions_end_and_stay_bounded", udp_sessions_end_and_stay_bounded},
        {"json_numbers_as_javascript_writes_them", json_numbers_as_javascript_writes_them},
        {"json_strings_and_bytes_as_javascript_writes_them", json_strings_and_bytes_as_javascript_writes_them},
        {"text_renderer_renders_what_the_writer_wrote", text_renderer_renders_what_the_writer_wrote},
        {"history_grows_to_its_cap", history_grows_to_its_cap},
        {"compact_records_made_and_expanded", compact_records_made_and_expanded},
        {"eviction_follows_the_order", eviction_follows_the_order},
    };
    for (const auto& [name, fn] : tests) {
        const int before = failures;
        fn();
        std::printf("%s %s\n", failures == before ? "ok" : "FAIL", name);
    }
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
