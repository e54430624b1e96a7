// fuzz-packets: arbitrary bytes as a little capture (packet_input.h) of any
// link type the engine decodes, through Engine::process_batch with every
// event and all contents, every batch checked (batch_checker.h), then
// finish().
#include <cstddef>
#include <cstdint>

#include "packet_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    tcpsensor::fuzz::run_packet_input(data, size);
    return 0;
}
