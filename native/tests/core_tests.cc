// Unit tests of the core's data structures, built with the core alone
// (no libpcap, no N-API). The behaviour tests of Zeek's semantics are the
// ava suite's, on crafted traces.
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
#include "../core/output/event_writer.h"
#include "../core/output/json_text.h"
#include "../core/output/text_batch_format.h"
#include "../core/output/text_renderer.h"
#include "../core/flow_table.h"
#include "../core/fragments.h"
#include "../core/timer_queue.h"
#include "../core/udp_sessions.h"
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
        Connection* c = t.insert(t.hash(a, b));
        c->side[0] = a;
        c->side[1] = b;
        made.push_back(c);
    }
    CHECK(t.size() == 5000);
    for (uint32_t i = 0; i < 5000; i += 2) t.erase(made[i]);
    bool all = true;
    for (uint32_t i = 0; i < 5000; ++i) {
        const Endpoint4 a = ep(i, 1000), b = ep(i + 1, 80);
        Connection* found = t.find(b, a, t.hash(b, a));  // reverse direction
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

void fragments_reassemble_out_of_order() {
    FragmentReassembler f(1 << 20, 30);
    uint64_t anomalies[kAnomalyCount] = {};
    // A 32-byte datagram (20 TCP header + 12 payload) in two fragments, last first.
    auto frag = [](uint16_t offset, bool more, size_t len) {
        std::vector<uint8_t> p(20 + len, 0);
        p[0] = 0x45;
        p[2] = static_cast<uint8_t>((20 + len) >> 8);
        p[3] = static_cast<uint8_t>(20 + len);
        p[5] = 7;  // id
        const uint16_t off = static_cast<uint16_t>((more ? 0x2000 : 0) | (offset / 8));
        p[6] = static_cast<uint8_t>(off >> 8);
        p[7] = static_cast<uint8_t>(off);
        p[9] = 6;
        p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
        for (size_t i = 0; i < len; ++i) p[20 + i] = static_cast<uint8_t>(offset + i);
        return p;
    };
    auto parse = [](const std::vector<uint8_t>& v) {
        IpPacket p;
        Anomaly why;
        parse_ip(v.data(), static_cast<uint32_t>(v.size()), static_cast<uint32_t>(v.size()), true, &p, &why);
        return p;
    };
    const auto second = frag(16, false, 16), first = frag(0, true, 16);
    IpPacket out;
    CHECK(!f.add(parse(second), 1.0, &out, anomalies));
    CHECK(f.add(parse(first), 1.1, &out, anomalies));
    CHECK(out.total_len == 52 && !out.is_fragment && out.proto == 6);
    bool in_order = true;
    for (uint32_t i = 0; i < 32; ++i) in_order = in_order && out.payload[i] == i;
    CHECK(in_order);
    CHECK(f.sets() == 0 && f.bytes() == 0);
    // An unfinished set expires.
    CHECK(!f.add(parse(second), 2.0, &out, anomalies));
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
        {"event_writer_batches_end_between_groups", event_writer_batches_end_between_groups},
        {"timer_queue_fires_in_due_order_then_arming_order", timer_queue_fires_in_due_order_then_arming_order},
        {"udp_sessions_end_and_stay_bounded", udp_sessions_end_and_stay_bounded},
        {"json_numbers_as_javascript_writes_them", json_numbers_as_javascript_writes_them},
        {"json_strings_and_bytes_as_javascript_writes_them", json_strings_and_bytes_as_javascript_writes_them},
        {"text_renderer_renders_what_the_writer_wrote", text_renderer_renders_what_the_writer_wrote},
    };
    for (const auto& [name, fn] : tests) {
        const int before = failures;
        fn();
        std::printf("%s %s\n", failures == before ? "ok" : "FAIL", name);
    }
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
