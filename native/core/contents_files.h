// Files receiving a connection's reassembled stream (Zeek's
// set_contents_file). Writes are unbuffered so that a failing device is
// noticed at the write that fails, not at some later flush.
#pragma once

#include <memory>
#include <string>

namespace tcpsensor {

class ContentsFile {
public:
    // Opens (creates or truncates) the file; on failure, *error says why.
    static std::shared_ptr<ContentsFile> open(const std::string& path, std::string* error);
    ~ContentsFile();
    ContentsFile(const ContentsFile&) = delete;
    ContentsFile& operator=(const ContentsFile&) = delete;

    bool write(const void* data, size_t len);
    const std::string& path() const { return path_; }

private:
    ContentsFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    int fd_;
    std::string path_;
};

// Per physical side of a connection; both sides may share one file.
struct ContentsFiles {
    std::shared_ptr<ContentsFile> file[2];
};

}  // namespace tcpsensor
