// Stream reassembly with Zeek's semantics (ZEEK-SEMANTICS.md section 6):
// in-order delivery, first-seen bytes win, acks settle holes into gaps,
// EOF and deferred closes, the per-endpoint limits, and contents files.
//
// Blocks keep their bytes only where needed (block_list.h): for delivery of
// out-of-order data, contents files and overlap comparison. Without
// tcp_contents the reassembler tracks intervals only, which is all gaps,
// EOF and close deferral depend on.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "contents_files.h"
#include "engine.h"

namespace tcpsensor {

namespace {

bool is_clean(const TcpEndpoint& e) {
    return e.state == EpState::Established || (e.state == EpState::Closed && e.prev_state == EpState::Established);
}

}  // namespace

BlockList& Engine::blocks(Connection& c, int side) {
    auto& b = c.ep[side].stream.blocks;
    if (!b) {
        if (spare_block_lists_.empty()) {
            b = std::make_unique<BlockList>(&block_memory_);
        } else {
            b = std::move(spare_block_lists_.back());
            spare_block_lists_.pop_back();
        }
        b->set_owner(&c, side, false);
    }
    return *b;
}

bool Engine::stream_needs_bytes(const Connection& c, int side) const {
    return c.ep[side].stream.deliver_contents || c.contents_file(side);
}

void Engine::enable_reassembly(Connection& c) {
    const uint16_t resp_port = c.resp_id().port;
    const bool contents = writer_.wants(EventKind::tcp_contents);
    for (int s = 0; s < 2; ++s) {
        const bool orig = c.is_orig_side(s);
        const bool all = orig ? options_.tcp_content_deliver_all_orig : options_.tcp_content_deliver_all_resp;
        const bool port = orig ? options_.tcp_content_delivery_ports_orig.test(resp_port)
                               : options_.tcp_content_delivery_ports_resp.test(resp_port);
        c.ep[s].stream.deliver_contents = contents && (all || port);
    }
    const bool first = !c.reassembling;
    c.reassembling = true;
    if (first && writer_.wants(EventKind::new_connection_contents))
        writer_.conn_event(EventKind::new_connection_contents, c);
}

void Engine::clear_blocks(Connection& c, int side) {
    constexpr size_t kSpareLists = 4096;
    StreamState& s = c.ep[side].stream;
    std::unique_ptr<BlockList> none;
    for (auto* list : {&s.blocks, c.extras ? &c.extras->ep[side].old_blocks : &none}) {
        if (!*list) continue;
        (*list)->clear();
        if (spare_block_lists_.size() < kSpareLists) {
            (*list)->set_owner(nullptr, 0, false);
            spare_block_lists_.push_back(std::move(*list));
        } else {
            list->reset();
        }
    }
}

void Engine::data_sent(Connection& c, int side, uint64_t seq, int32_t len, const uint8_t* data, uint8_t flags) {
    TcpEndpoint& ep = c.ep[side];
    StreamState& s = ep.stream;
    if (s.skip_deliveries) return;

    const bool keep_all = writer_.wants(EventKind::rexmit_inconsistency) || options_.tcp_max_old_segments > 0;
    if (!keep_all && seq == s.last_reassem_seq && seq >= s.trim_seq &&
        s.blocks && s.blocks->count() < options_.max_blocks_per_endpoint &&
        (s.blocks->empty() || s.blocks->back().upper == seq)) {
        // The common case, and the same outcome as the general path below:
        // the next bytes in order with nothing buffered beyond them are
        // delivered straight from the packet and kept as an interval until
        // acknowledged.
        const uint64_t upper = seq + static_cast<uint64_t>(len);
        s.blocks->append_interval(seq, upper);
        s.last_reassem_seq = upper;
        if (c.contents_file(side)) record_bytes(c, side, data, static_cast<uint64_t>(len));
        deliver_block(c, side, seq, static_cast<uint64_t>(len), data);
        if (ep.no_data_acked() && options_.tcp_max_initial_window &&
            ep.size(c.ep[side ^ 1]) > options_.tcp_max_initial_window)
            trim_to_seq(c, side, s.last_reassem_seq);
        if (options_.tcp_excessive_data_without_further_acks && s.blocks &&
            s.blocks->data_size() > options_.tcp_excessive_data_without_further_acks) {
            weird(c, "excessive_data_without_further_acks");
            clear_blocks(c, side);
            s.skip_deliveries = true;
        }
        return;
    }

    // Our bound on blocks per endpoint (Zeek has none) keeps insertion
    // cheap: an endpoint at it gives way as the memory bound's victims do.
    if (s.blocks && s.blocks->count() >= options_.max_blocks_per_endpoint) flush(c, side);

    new_block(c, side, seq, static_cast<uint64_t>(len), data, flags);

    BlockList* list = s.blocks.get();
    if (list) {
        const uint64_t undelivered = list->empty() ? 0 : list->back().upper - s.last_reassem_seq;
        if (ep.no_data_acked() && options_.tcp_max_above_hole_without_any_acks &&
            undelivered > options_.tcp_max_above_hole_without_any_acks) {
            weird(c, "above_hole_data_without_any_acks");
            clear_blocks(c, side);
            s.skip_deliveries = true;
        } else if (options_.tcp_excessive_data_without_further_acks &&
                   list->data_size() > options_.tcp_excessive_data_without_further_acks) {
            weird(c, "excessive_data_without_further_acks");
            clear_blocks(c, side);
            s.skip_deliveries = true;
        }
    }
    if (s.blocks) settle_blocks(c, side, keep_all);
}

void Engine::settle_blocks(Connection& c, int side, bool keep_all) {
    // The packet's bytes go away now: keep what will still be needed,
    // within our bound on reassembly memory. Data above a hole that this
    // endpoint delivers is kept, room being made for it (make_room); if
    // this endpoint is the one to give way, it is flushed instead. Bytes
    // nobody needs yet are kept only while less than half the bound is in
    // use, so that they never crowd out those that are: above a hole
    // without delivery (a contents file set later still gets them, as
    // Zeek's would), delivered ones for overlap checks.
    StreamState& s = c.ep[side].stream;
    BlockList& list = *s.blocks;
    const uint64_t above = list.transient_cost(s.last_reassem_seq, true);
    const uint64_t below = keep_all ? list.transient_cost(s.last_reassem_seq, false) : 0;
    const auto spare = [&](uint64_t n) { return block_memory_.bytes_held + n <= options_.max_reassembly_bytes / 2; };
    bool keep_above = false;
    if (above) {
        if (stream_needs_bytes(c, side)) {
            if (!make_room(&list, above)) return flush(c, side);
            keep_above = true;
        } else {
            keep_above = spare(above);
        }
    }
    list.settle(s.last_reassem_seq, keep_above, below && spare(below));
    // The blocks of intervals above holes are memory too, whoever needs them.
    if (block_memory_.bytes_held > options_.max_reassembly_bytes && !make_room(&list, 0)) flush(c, side);
}

bool Engine::make_room(const BlockList* mine, uint64_t need) {
    // Victims that had nothing left to give are passed over this many times
    // before the asking endpoint gives way itself (the bound is then exceeded
    // by what no one can release: the one interval of delivered data an
    // endpoint keeps until it is acknowledged).
    constexpr int kFruitless = 8;
    int fruitless = 0;
    while (block_memory_.bytes_held + need > options_.max_reassembly_bytes) {
        BlockList* victim = block_memory_.victim(options_.max_reassembly_bytes);
        if (!victim || victim == mine) return false;
        const uint64_t before = victim->charge();
        give_way(*victim);
        if (victim->charge() < before) continue;
        block_memory_.requeue(victim);
        if (++fruitless == kFruitless) return false;
    }
    return true;
}

void Engine::give_way(BlockList& list) {
    Connection* c = list.owner();
    if (!c || list.old_segments()) {
        // Acknowledged blocks serve overlap checks only.
        list.clear();
    } else if (list.owns_bytes() && !stream_needs_bytes(*c, list.side())) {
        // Bytes nothing delivers go first, and quietly.
        list.forget_bytes();
    } else {
        flush(*c, list.side());
    }
}

void Engine::flush(Connection& c, int side) {
    // What an ack of everything the endpoint holds would do: its holes
    // become gaps (content_gap, G, missed_bytes), the data above them is
    // delivered, and reassembly goes on from there; what comes later for a
    // hole is old data. Then its memory is released, the blocks becoming
    // one interval (kept until acknowledged, like any delivered data).
    StreamState& s = c.ep[side].stream;
    BlockList* list = s.blocks.get();
    if (!list) return;
    if (!list->empty() && list->back().upper > s.last_reassem_seq) {
        // Counted when the endpoint gives something up.
        ++stats_.reassembly_flushes;
        count(Anomaly::reassembly_memory_exceeded);
        const uint64_t end = list->back().upper;
        uint64_t held = 0;
        for (auto b = list->first_ending_after(s.last_reassem_seq); b != list->end(); ++b)
            held += b->upper - (b->seq > s.last_reassem_seq ? b->seq : s.last_reassem_seq);
        stats_.reassembly_dropped_bytes += end - s.last_reassem_seq - held;
        undelivered(c, side, end);
        list = s.blocks.get();
    }
    // This packet's blocks, when it is the one flushed, keep nothing.
    list->settle(s.last_reassem_seq, false, false);
    list->collapse(s.trim_seq, s.last_reassem_seq);
    check_eof(c, side);
}

void Engine::new_block(Connection& c, int side, uint64_t seq, uint64_t len, const uint8_t* data, uint8_t flags) {
    if (len == 0) return;
    StreamState& s = c.ep[side].stream;
    const uint64_t upper = seq + len;
    if (const EndpointExtras* x = c.ep_more_if(side); x && x->old_blocks)
        check_overlap(c, side, *x->old_blocks, seq, len, data, flags);
    if (upper <= s.trim_seq) return;  // old data
    if (s.blocks) check_overlap(c, side, *s.blocks, seq, len, data, flags);
    if (seq < s.trim_seq) {
        const uint64_t old = s.trim_seq - seq;
        data += old;
        seq += old;
    }
    size_t added;
    const auto at = blocks(c, side).insert(seq, upper, data, &added);
    block_inserted(c, side, at);
}

void Engine::check_overlap(Connection& c, int side, const BlockList& list, uint64_t seq, uint64_t len,
                           const uint8_t* data, uint8_t flags) {
    if (!writer_.wants(EventKind::rexmit_inconsistency) || list.empty() || seq == list.back().upper) return;
    const uint64_t upper = seq + len;
    const TcpEndpoint& peer = c.ep[side ^ 1];
    for (auto it = list.first_ending_after(seq); it != list.end() && it->seq < upper; ++it) {
        const StreamBlock& b = *it;
        if (!b.bytes) continue;
        const uint64_t from = seq > b.seq ? seq : b.seq;
        const uint64_t to = upper < b.upper ? upper : b.upper;
        const auto n = static_cast<uint32_t>(to - from);
        const uint8_t* old_bytes = b.bytes + (from - b.seq);
        const uint8_t* new_bytes = data + (from - seq);
        // A lone differing keep-alive byte, before the peer did anything,
        // is no inconsistency.
        if (n && std::memcmp(old_bytes, new_bytes, n) != 0 && (n > 1 || peer.last_time != 0))
            writer_.rexmit_inconsistency(c, old_bytes, new_bytes, n, flags);
    }
}

void Engine::block_inserted(Connection& c, int side, BlockList::iterator from) {
    TcpEndpoint& ep = c.ep[side];
    StreamState& s = ep.stream;
    BlockList& list = *s.blocks;
    if (from == list.end() || from->seq > s.last_reassem_seq || from->upper <= s.last_reassem_seq) return;
    // A leading hole is filled: deliver all that is now contiguous.
    for (auto it = from; it != list.end(); ++it) {
        const StreamBlock& b = *it;
        if (b.seq > s.last_reassem_seq) break;
        if (b.seq == s.last_reassem_seq) {
            const uint64_t at = s.last_reassem_seq;
            s.last_reassem_seq += b.size();
            if (c.contents_file(side)) record_bytes(c, side, b.bytes, b.size());
            deliver_block(c, side, at, b.size(), b.bytes);
        }
    }
    // Much sent and nothing acked: the acks are probably not visible to us,
    // so delivered data is not held for them.
    if (ep.no_data_acked() && options_.tcp_max_initial_window && ep.size(c.ep[side ^ 1]) > options_.tcp_max_initial_window)
        trim_to_seq(c, side, s.last_reassem_seq);
}

void Engine::deliver_block(Connection& c, int side, uint64_t seq, uint64_t len, const uint8_t* data) {
    if (!c.ep[side].stream.deliver_contents || len == 0) return;
    if (!data) {
        // Bytes that could not be kept (allocation failure).
        stats_.reassembly_dropped_bytes += len;
        return;
    }
    writer_.tcp_contents(c, c.is_orig_side(side), seq, data, static_cast<uint32_t>(len));
}

uint64_t Engine::trim_to_seq(Connection& c, int side, uint64_t seq) {
    StreamState& s = c.ep[side].stream;
    // Zeek's capture-loss evidence: the bytes an ack covers that never
    // arrived, counted before the hole is declared undelivered.
    uint64_t missing = 0;
    BlockList* held = s.blocks.get();
    if (held && !held->empty()) {
        if (held->front().seq > s.last_reassem_seq) missing += held->front().seq - s.last_reassem_seq;
    } else if (seq > s.last_reassem_seq) {
        missing += seq - s.last_reassem_seq;
    }
    if (seq > s.last_reassem_seq) undelivered(c, side, seq);
    if (BlockList* list = s.blocks.get()) {
        while (!list->empty() && list->front().upper <= seq) {
            const uint64_t upper = list->front().upper;
            missing += list->front_holes();
            const auto next = std::next(list->begin());
            if (next != list->end() && next->seq <= seq)
                missing += next->seq - upper;
            else if (upper != seq && upper != seq - 1)  // an acked FIN is no octet
                missing += seq - upper;
            if (options_.tcp_max_old_segments) {
                const uint64_t from = list->front().seq, to = list->front().upper;
                uint8_t* bytes;
                list->pop_front(&bytes);
                auto& old = c.ep_more(side).old_blocks;
                if (!old) {
                    old = std::make_unique<BlockList>(&block_memory_);
                    old->set_owner(&c, side, true);
                }
                old->append_owned(from, to, bytes, options_.tcp_max_old_segments);
            } else {
                list->pop_front();
            }
        }
        // Skipping undeliverable data may have made the next block
        // deliverable.
        if (!list->empty() && list->front().seq == s.last_reassem_seq) block_inserted(c, side, list->begin());
    }
    if (seq > s.trim_seq) s.trim_seq = seq;
    return missing;
}

void Engine::undelivered(Connection& c, int side, uint64_t up_to) {
    StreamState& s = c.ep[side].stream;
    // A partial connection's numbering is made up; complaints about its
    // first octet or two are not real gaps.
    if (up_to <= 2 && c.is_partial) return;

    if (!s.skip_deliveries) {
        if (BlockList* list = s.blocks.get()) {
            auto it = list->first_ending_after(s.last_reassem_seq);
            while (it != list->end()) {
                if (it->seq < s.last_reassem_seq) {
                    ++it;
                    continue;
                }
                if (it->seq >= up_to) break;
                const uint64_t gap_len = it->seq - s.last_reassem_seq;
                gap(c, side, s.last_reassem_seq, gap_len);
                s.last_reassem_seq += gap_len;
                block_inserted(c, side, it);
                // Delivery may have trimmed the list: find the next block anew.
                it = list->first_ending_after(s.last_reassem_seq);
            }
        }
        if (up_to > s.last_reassem_seq) gap(c, side, s.last_reassem_seq, up_to - s.last_reassem_seq);
    }
    if (c.contents_file(side)) record_to_seq(c, side, s.last_reassem_seq, up_to);
    if (up_to > s.last_reassem_seq) s.last_reassem_seq = up_to;
}

void Engine::gap(Connection& c, int side, uint64_t seq, uint64_t len) {
    // Gaps count only between cleanly established endpoints; elsewhere
    // (RSTs, partial connections) they arise falsely.
    const bool clean = is_clean(c.ep[side]) && is_clean(c.ep[side ^ 1]);
    if (clean) {
        scaled_event(c, side, &EndpointExtras::gaps, 'G', EventKind::tcp_multiple_gap);
        if (writer_.wants(EventKind::content_gap)) writer_.content_gap(c, c.is_orig_side(side), seq, len);
    }
    c.ep[side].stream.had_gap = true;
}

void Engine::ack_received(Connection& c, int side, uint64_t seq) {
    TcpEndpoint& ep = c.ep[side];
    // The FIN's octet is no data.
    if (ep.fin_cnt > 0) {
        const uint64_t fin_seq = c.ep_more(side).fin_seq;
        if (seq >= fin_seq) seq = fin_seq - 1;
    }
    if (seq <= ep.stream.trim_seq) return;
    // As Zeek's capture_loss counts: acks within established connections
    // whose data is still being delivered.
    const bool counted = !ep.stream.skip_deliveries && ep.state == EpState::Established &&
                         c.ep[side ^ 1].state == EpState::Established;
    const uint64_t acked = seq - ep.stream.trim_seq;
    const uint64_t missing = trim_to_seq(c, side, seq);
    if (counted) {
        ++stats_.ack_events;
        stats_.ack_bytes += acked;
        if (missing) {
            ++stats_.gap_events;
            stats_.gap_bytes += missing;
        }
    }
    check_eof(c, side);
}

bool Engine::data_pending(const Connection& c, int side) const {
    const TcpEndpoint& ep = c.ep[side];
    if (ep.stream.skip_deliveries) return false;
    const uint64_t delivered = static_cast<uint64_t>(ep.start_seq) + ep.stream.last_reassem_seq;
    const uint64_t last = TcpEndpoint::full_seq(ep.last_seq, ep.seq_wraps);
    // Numbers from a RST-initialised endpoint can be meaningless.
    if (last < delivered) return false;
    // Everything is delivered at the last octet (RST) or the one before it
    // (a FIN's).
    if (delivered != last - 1 && delivered != last) return true;
    // Until it is reset, this side still acks the peer's buffered data.
    const auto& peer_blocks = c.ep[side ^ 1].stream.blocks;
    return ep.state != EpState::Reset && peer_blocks && !peer_blocks->empty();
}

void Engine::check_eof(Connection& c, int side) {
    TcpEndpoint& ep = c.ep[side];
    if (ep.stream.did_eof) return;
    if ((ep.fin_cnt > 0 || ep.state == EpState::Closed || ep.state == EpState::Reset) && !data_pending(c, side)) {
        ep.stream.did_eof = true;
        endpoint_eof(c, side);
    }
}

void Engine::endpoint_eof(Connection& c, int side) {
    if (writer_.wants(EventKind::connection_EOF)) writer_.is_orig_event(EventKind::connection_EOF, c, c.is_orig_side(side));
    if (c.close_deferred) {
        if (data_pending(c, side) && c.both_closed()) weird(c, "pending_data_when_closed");
        connection_closed(c, side, c.deferred_gen_event);
        c.close_deferred = false;
    }
}

// ---------------------------------------------------------------------------
// Contents files (Zeek's set_contents_file): blocks in stream order, gaps
// as "\n<<gap N>>\n", what is still undelivered when the connection ends.

void Engine::record_bytes(Connection& c, int side, const uint8_t* data, uint64_t len) {
    ContentsFile* f = c.extras->contents_files.file[side].get();
    // A block whose bytes were not kept (it was delivered before the file
    // was set) cannot be written; it is marked like a gap.
    if (!data) return record_gap(c, side, len);
    if (!f->write(data, len) && writer_.wants(EventKind::contents_file_write_failure))
        writer_.write_failure(c, c.is_orig_side(side), "TCP reassembler content write failure");
}

void Engine::record_gap(Connection& c, int side, uint64_t len) {
    char text[48];
    const int n = std::snprintf(text, sizeof text, "\n<<gap %" PRIu64 ">>\n", len);
    if (!c.extras->contents_files.file[side]->write(text, static_cast<size_t>(n)) &&
        writer_.wants(EventKind::contents_file_write_failure))
        writer_.write_failure(c, c.is_orig_side(side), "TCP reassembler gap write failure");
}

void Engine::record_to_seq(Connection& c, int side, uint64_t start, uint64_t stop) {
    BlockList* list = c.ep[side].stream.blocks.get();
    if (!list) return;
    auto it = list->first_ending_after(start);
    if (it == list->end()) return;
    uint64_t last = start;
    for (; it != list->end() && it->upper <= stop; ++it) {
        const StreamBlock& b = *it;
        if (b.seq > last) record_gap(c, side, b.seq - last);
        record_bytes(c, side, b.bytes, b.size());
        last = b.upper;
    }
    if (it != list->end() && last < stop) record_gap(c, side, stop - last);
}

void Engine::close_contents_files(Connection& c) {
    if (!c.extras) return;
    for (int side = 0; side < 2; ++side) {
        if (!c.contents_file(side)) continue;
        const StreamState& s = c.ep[side].stream;
        if (s.blocks && !s.blocks->empty() && s.last_reassem_seq < s.blocks->back().upper)
            record_to_seq(c, side, s.last_reassem_seq, s.blocks->back().upper);
    }
    c.extras->contents_files = ContentsFiles{};
}

bool Engine::set_contents_file(uint64_t uid, ContentsDirection dir, const std::string& path, std::string* error) {
    Connection* target = find_by_uid(uid, true);
    if (!target) return false;
    Connection& c = *target;
    std::shared_ptr<ContentsFile> file;
    if (dir != ContentsDirection::None) {
        file = ContentsFile::open(path, error);
        if (!file) return false;
    }
    for (int side = 0; side < 2; ++side) {
        const bool orig = c.is_orig_side(side);
        const bool selected = dir == ContentsDirection::Both || (dir == ContentsDirection::Orig && orig) ||
                              (dir == ContentsDirection::Resp && !orig) || dir == ContentsDirection::None;
        if (!selected) continue;
        auto& slot = c.more().contents_files.file[side];
        const bool was_recording = static_cast<bool>(slot);
        slot = file;
        // A new recording catches up with what is delivered but not yet
        // acknowledged.
        const StreamState& s = c.ep[side].stream;
        if (slot && !was_recording && s.blocks && !s.blocks->empty())
            record_to_seq(c, side, s.blocks->front().seq, s.last_reassem_seq);
    }
    return true;
}

bool Engine::get_contents_file(uint64_t uid, ContentsDirection dir, std::string* path) {
    // A compact record has no contents file.
    const Connection* target = find_by_uid(uid, false);
    if (!target || !target->extras || dir == ContentsDirection::None) return false;
    const auto& files = target->extras->contents_files.file;
    const auto& o = files[target->orig_side];
    const auto& r = files[target->orig_side ^ 1];
    const ContentsFile* f = nullptr;
    if (dir == ContentsDirection::Orig) f = o.get();
    if (dir == ContentsDirection::Resp) f = r.get();
    // Both directions: only when they share one file.
    if (dir == ContentsDirection::Both) f = o == r ? o.get() : nullptr;
    if (!f) return false;
    *path = f->path();
    return true;
}

}  // namespace tcpsensor
