#include "packet_source.h"

#include <net/if.h>
#if defined(__linux__)
#include <linux/if_packet.h>
#include <sys/socket.h>
#endif
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../core/decode.h"
#include "savefile_reader.h"

namespace tcpsensor {

namespace {

void fail(CaptureError* error, const char* code, std::string message) {
    error->code = code;
    error->message = std::move(message);
}

// Whether libpcap's stdio stream holds input it has not handed out yet
// (poll() on the descriptor cannot see it). Where the C library's FILE is
// unknown, assume it does: reads then simply block, as they always did.
bool stdio_buffered(FILE* f) {
#if defined(__GLIBC__)
    return f->_IO_read_ptr < f->_IO_read_end;
#elif defined(__APPLE__) || defined(__FreeBSD__)
    return f->_r > 0;
#else
    (void)f;
    return true;
#endif
}

}  // namespace

PacketSource::PacketSource(pcap* handle, bool live) : handle_(handle), live_(live) {}

PacketSource::~PacketSource() {
    if (offline_filter_) pcap_freecode(offline_filter_.get());
    if (handle_) pcap_close(handle_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::string libpcap_version() { return pcap_lib_version(); }

std::string PacketSource::linktype_name() const {
    const char* name = pcap_datalink_val_to_name(linktype_);
    return name ? name : std::to_string(linktype_);
}

std::string PacketSource::linktype_description() const {
    const char* d = pcap_datalink_val_to_description(linktype_);
    return d ? d : "";
}

int PacketSource::snaplen() const { return pcap_snapshot(handle_); }

bool PacketSource::apply_filter(const std::string& filter, CaptureError* error) {
    linktype_ = pcap_datalink(handle_);
    if (!linktype_supported(linktype_)) {
        const char* name = pcap_datalink_val_to_name(linktype_);
        fail(error, "ERR_PCAP_LINKTYPE",
             "unsupported link type " + std::to_string(linktype_) + (name ? std::string(" (") + name + ")" : ""));
        return false;
    }
    if (filter.empty()) return true;
    bpf_program program;
    if (pcap_compile(handle_, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        fail(error, "ERR_BPF", "invalid BPF filter '" + filter + "': " + pcap_geterr(handle_));
        return false;
    }
    const int rc = pcap_setfilter(handle_, &program);
    pcap_freecode(&program);
    if (rc != 0) {
        fail(error, "ERR_BPF", "cannot apply BPF filter '" + filter + "': " + pcap_geterr(handle_));
        return false;
    }
    return true;
}

std::unique_ptr<PacketSource> PacketSource::open_file(const std::string& path, const std::string& filter,
                                                      CaptureError* error) {
    // Tell a missing or unreadable file from one that is not a capture.
    // "-" is standard input, as libpcap and tcpdump spell it.
    struct stat st;
    const bool standard_input = path == "-";
    if (standard_input) {
        if (::fstat(STDIN_FILENO, &st) != 0) {
            fail(error, "ERR_PCAP_OPEN", std::string("cannot read standard input: ") + std::strerror(errno));
            return nullptr;
        }
    } else if (::stat(path.c_str(), &st) != 0) {
        fail(error, "ERR_PCAP_OPEN", "cannot open '" + path + "': " + std::strerror(errno));
        return nullptr;
    }
    if (S_ISDIR(st.st_mode)) {
        fail(error, "ERR_PCAP_OPEN", "cannot open '" + path + "': is a directory");
        return nullptr;
    }
    if (!standard_input && ::access(path.c_str(), R_OK) != 0) {
        fail(error, "ERR_PCAP_OPEN", "cannot open '" + path + "': " + std::strerror(errno));
        return nullptr;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    // Microsecond timestamps, as Zeek reads them: nanosecond files are
    // scaled by libpcap.
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!p) {
        fail(error, "ERR_PCAP_FORMAT", "'" + path + "' is not a readable pcap or pcapng file: " + errbuf);
        return nullptr;
    }
    std::unique_ptr<PacketSource> source(new PacketSource(p, false));
    if (!source->apply_filter(filter, error)) return nullptr;
    // libpcap has vetted the file; a classic pcap is then read by our own
    // reader, the filter (compiled against the same handle) applied to it.
    // Only a regular file can be opened twice: a FIFO or a pipe would be
    // split between libpcap's buffer and ours, so libpcap alone reads it.
    if (S_ISREG(st.st_mode) && !standard_input) source->reader_ = SavefileReader::open(path);
    if (source->reader_ && source->reader_->linktype() != source->linktype_) source->reader_.reset();
    // NFLOG's TLV headers are in the writer's byte order, which libpcap
    // turns into ours; it reads those files itself.
    if (source->reader_ && source->linktype_ == linktype::kNflog) source->reader_.reset();
    // A pipe (FIFO, standard input) can go quiet: its reads wait in poll()
    // first, where a stop wakes them, and where the capture thread learns
    // that it has caught up with the writer (and sends what it has).
    if (!S_ISREG(st.st_mode) || standard_input) {
        source->pipe_fd_ = ::fileno(pcap_file(p));
        source->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (source->pipe_fd_ < 0 || source->wake_fd_ < 0) {
            fail(error, "ERR_PCAP_OPEN", "cannot read '" + path + "': " + std::strerror(errno));
            return nullptr;
        }
    }
    if (source->reader_ && !filter.empty()) {
        source->offline_filter_ = std::make_unique<bpf_program>();
        if (pcap_compile(p, source->offline_filter_.get(), filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            source->offline_filter_.reset();
            source->reader_.reset();
        }
    }
    return source;
}

std::unique_ptr<PacketSource> PacketSource::open_live(const LiveOptions& options, const std::string& filter,
                                                      CaptureError* error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    pcap_t* p = pcap_create(options.interface.c_str(), errbuf);
    if (!p) {
        fail(error, "ERR_PCAP_OPEN", "cannot capture on '" + options.interface + "': " + errbuf);
        return nullptr;
    }
    std::unique_ptr<PacketSource> source(new PacketSource(p, true));
    source->interface_ = options.interface;
    pcap_set_snaplen(p, options.snaplen);
    pcap_set_promisc(p, options.promiscuous ? 1 : 0);
    pcap_set_timeout(p, options.timeout_ms);
    if (options.buffer_size > 0) pcap_set_buffer_size(p, options.buffer_size);
    pcap_set_immediate_mode(p, options.immediate ? 1 : 0);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);

    const int rc = pcap_activate(p);
    if (rc < 0) {
        const std::string detail = pcap_geterr(p);
        const std::string where = "cannot capture on '" + options.interface + "': ";
        switch (rc) {
            case PCAP_ERROR_NO_SUCH_DEVICE:
                fail(error, "ERR_PCAP_NO_DEVICE", where + "no such interface (" + detail + ")");
                break;
            case PCAP_ERROR_PERM_DENIED:
            case PCAP_ERROR_PROMISC_PERM_DENIED:
                fail(error, "ERR_PCAP_PERMISSION",
                     where + "permission denied; capture needs root or CAP_NET_RAW (" + detail + ")");
                break;
            case PCAP_ERROR_IFACE_NOT_UP:
                fail(error, "ERR_PCAP_INTERFACE_DOWN", where + "interface is down (" + detail + ")");
                break;
            default:
                fail(error, "ERR_PCAP_OPEN", where + detail);
        }
        return nullptr;
    }
    if (!source->apply_filter(filter, error)) return nullptr;
    // The capture thread waits in its own poll(), on libpcap's descriptor
    // and on an eventfd that interrupt() writes: it wakes for packets, for
    // a stop, and on a quiet link every so often (timers run on).
    char nb_errbuf[PCAP_ERRBUF_SIZE] = {0};
    source->capture_fd_ = pcap_get_selectable_fd(p);
    source->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (source->capture_fd_ < 0 || source->wake_fd_ < 0 || pcap_setnonblock(p, 1, nb_errbuf) != 0) {
        fail(error, "ERR_PCAP_OPEN", "cannot capture on '" + options.interface + "': cannot wait for packets (" +
                                         (nb_errbuf[0] ? nb_errbuf : std::strerror(errno)) + ")");
        return nullptr;
    }
    return source;
}

// How a read of our own file reader ended, as next() reports it.
PacketSource::Next PacketSource::reader_end(int result, CaptureError* error) const {
    switch (static_cast<SavefileReader::Result>(result)) {
        case SavefileReader::Result::End:
            return Next::End;
        case SavefileReader::Result::Truncated:
            fail(error, "ERR_PCAP_TRUNCATED", "capture file ends inside a packet: " + reader_->error());
            return Next::Error;
        default:
            fail(error, "ERR_PCAP_READ", "reading packets failed: " + reader_->error());
            return Next::Error;
    }
}

PacketSource::Next PacketSource::next_batch(PacketView* packets, size_t max, size_t* count, CaptureError* error,
                                            int wait_ms) {
    *count = 0;
    if (pipe_fd_ >= 0 && !stdio_buffered(pcap_file(handle_))) {
        pollfd fds[2] = {{pipe_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        const int ready = ::poll(fds, 2, wait_ms);
        if (fds[1].revents & POLLIN) return Next::End;
        if (ready == 0) return Next::Timeout;
    }
    if (!reader_) {
        const Next r = next_from_pcap(packets, error);
        if (r == Next::Packet) *count = 1;
        return r;
    }
    constexpr size_t kMax = 64;
    SavefileReader::Record records[kMax];
    for (;;) {
        if (interrupted_.load(std::memory_order_relaxed)) return Next::End;
        size_t n = 0;
        const auto result = reader_->next_batch(records, max < kMax ? max : kMax, &n);
        if (result != SavefileReader::Result::Packet) return reader_end(static_cast<int>(result), error);
        size_t kept = 0;
        for (size_t i = 0; i < n; ++i) {
            const SavefileReader::Record& r = records[i];
            if (offline_filter_) {
                pcap_pkthdr h;
                h.ts.tv_sec = r.sec;
                h.ts.tv_usec = r.usec;
                h.caplen = r.caplen;
                h.len = r.wirelen;
                if (!pcap_offline_filter(offline_filter_.get(), &h, r.data)) continue;
            }
            view(r.sec, r.usec, r.data, r.caplen, r.wirelen, &packets[kept++]);
        }
        // As libpcap's own filter does, only packets that pass are received.
        received_ += kept;
        if (kept > 0) {
            *count = kept;
            return Next::Packet;
        }
    }
}

void PacketSource::view(int64_t sec, int64_t usec, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                        PacketView* out) {
    out->ts = static_cast<double>(sec) + static_cast<double>(usec) / 1e6;
    out->data = data;
    out->caplen = caplen;
    out->wirelen = wirelen;
}

PacketSource::Next PacketSource::next_from_pcap(PacketView* packet, CaptureError* error) {
    pcap_pkthdr* header;
    const u_char* data;
    switch (pcap_next_ex(handle_, &header, &data)) {
        case 1:
            ++received_;
            view(header->ts.tv_sec, header->ts.tv_usec, data, header->caplen, header->len, packet);
            return Next::Packet;
        case 0:
            return Next::Timeout;
        case PCAP_ERROR_BREAK:
            return Next::End;
        default: {
            const std::string message = pcap_geterr(handle_);
            if (message.find("truncated") != std::string::npos)
                fail(error, "ERR_PCAP_TRUNCATED", "capture file ends inside a packet: " + message);
            else
                fail(error, "ERR_PCAP_READ", "reading packets failed: " + message);
            return Next::Error;
        }
    }
}

namespace {

struct DispatchContext {
    PacketCallback callback;
    void* context;
};

void on_pcap_packet(u_char* user, const pcap_pkthdr* header, const u_char* data) {
    auto* d = reinterpret_cast<DispatchContext*>(user);
    PacketView view;
    view.ts = static_cast<double>(header->ts.tv_sec) + static_cast<double>(header->ts.tv_usec) / 1e6;
    view.data = data;
    view.caplen = header->caplen;
    view.wirelen = header->len;
    d->callback(d->context, view);
}

}  // namespace

PacketSource::Next PacketSource::live_error(int rc, CaptureError* error) {
    if (rc == PCAP_ERROR_BREAK) return Next::End;
    const std::string message = pcap_geterr(handle_);
    // The kernel reports ENETDOWN both when the interface is taken down and
    // when it is removed; libpcap words the two differently.
    if (rc == PCAP_ERROR_IFACE_NOT_UP || message.find("went down") != std::string::npos ||
        message.find("disappeared") != std::string::npos)
        fail(error, "ERR_PCAP_INTERFACE_DOWN",
             "capture stopped: the interface '" + interface_ + "' went down or disappeared (" + message + ")");
    else
        fail(error, "ERR_PCAP_READ", "capture failed: " + message);
    return Next::Error;
}

PacketSource::Next PacketSource::dispatch(PacketCallback callback, void* context, int max, int wait_ms,
                                          size_t* count, CaptureError* error, bool draining) {
    *count = 0;
    DispatchContext d{callback, context};
    for (int round = 0; round < 2; ++round) {
        const int n = pcap_dispatch(handle_, max, on_pcap_packet, reinterpret_cast<u_char*>(&d));
        if (n > 0) {
            received_ += static_cast<uint64_t>(n);
            *count = static_cast<size_t>(n);
            return Next::Packet;
        }
        if (n < 0) return live_error(n, error);
        if (round == 1) break;
        pollfd fds[2] = {{capture_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        const int ready = ::poll(fds, 2, wait_ms);
        if (ready < 0 && errno != EINTR) {
            fail(error, "ERR_PCAP_READ", std::string("capture failed: poll: ") + std::strerror(errno));
            return Next::Error;
        }
        if (fds[1].revents & POLLIN) {
            uint64_t ignored;
            while (::read(wake_fd_, &ignored, sizeof ignored) > 0) {
            }
            return Next::End;
        }
        if (ready <= 0) {
            // Taking an interface down leaves a packet socket silent rather
            // than in error on some kernels: a quiet link is the moment to
            // look.
            if (!draining && !interface_up()) {
                fail(error, "ERR_PCAP_INTERFACE_DOWN",
                     "capture stopped: the interface '" + interface_ + "' went down or disappeared");
                return Next::Error;
            }
            return Next::Timeout;
        }
        // Readable, or an error condition (the interface went down) that
        // libpcap reports from its next read.
    }
    return Next::Timeout;
}

bool PacketSource::join_fanout(int* group, CaptureError* error) {
#if defined(__linux__) && defined(PACKET_FANOUT)
    const int flags = PACKET_FANOUT_FLAG_DEFRAG | (*group == 0 ? PACKET_FANOUT_FLAG_UNIQUEID : 0);
    const int request = (*group & 0xffff) | ((PACKET_FANOUT_HASH | flags) << 16);
    if (::setsockopt(capture_fd_, SOL_PACKET, PACKET_FANOUT, &request, sizeof request) != 0) {
        fail(error, "ERR_PCAP_OPEN",
             "cannot spread '" + interface_ + "' over workers (PACKET_FANOUT): " + std::strerror(errno));
        return false;
    }
    if (*group == 0) {
        int joined = 0;
        socklen_t len = sizeof joined;
        if (::getsockopt(capture_fd_, SOL_PACKET, PACKET_FANOUT, &joined, &len) != 0) {
            fail(error, "ERR_PCAP_OPEN", "cannot read the PACKET_FANOUT group: " + std::string(std::strerror(errno)));
            return false;
        }
        *group = joined & 0xffff;
    }
    return true;
#else
    (void)group;
    fail(error, "ERR_PCAP_OPEN", "several workers on one interface need Linux's PACKET_FANOUT");
    return false;
#endif
}

bool PacketSource::interface_up() const {
    if (interface_.empty() || interface_ == "any" || interface_.size() >= IFNAMSIZ) return true;
    ifreq request{};
    std::memcpy(request.ifr_name, interface_.c_str(), interface_.size());
    if (::ioctl(capture_fd_, SIOCGIFFLAGS, &request) != 0) return errno != ENODEV && errno != ENXIO;
    return (request.ifr_flags & IFF_UP) != 0;
}

CaptureStats PacketSource::stats() const {
    CaptureStats s;
    s.received = received_;
    if (!live_) return s;
    pcap_stat ps;
    if (pcap_stats(handle_, &ps) == 0) {
        // libpcap's counters are 32 bits and wrap (in hours, at line rate):
        // ours add up the differences.
        kernel_.received_by_filter += static_cast<uint32_t>(ps.ps_recv - last_kernel_.ps_recv);
        kernel_.dropped_by_kernel += static_cast<uint32_t>(ps.ps_drop - last_kernel_.ps_drop);
        kernel_.dropped_by_interface += static_cast<uint32_t>(ps.ps_ifdrop - last_kernel_.ps_ifdrop);
        last_kernel_ = {ps.ps_recv, ps.ps_drop, ps.ps_ifdrop};
    }
    s.received_by_filter = kernel_.received_by_filter;
    s.dropped_by_kernel = kernel_.dropped_by_kernel;
    s.dropped_by_interface = kernel_.dropped_by_interface;
    return s;
}

void PacketSource::interrupt() {
    if (wake_fd_ >= 0) {
        const uint64_t one = 1;
        // A full counter (never, in practice) already wakes the reader.
        if (::write(wake_fd_, &one, sizeof one) < 0) {
        }
        if (live_) return;
    }
    interrupted_.store(true);
    pcap_breakloop(handle_);
}

}  // namespace tcpsensor
