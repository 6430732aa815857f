#ifndef FUZZ_DRIVER_SHIM_H
#define FUZZ_DRIVER_SHIM_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (libclang_rt.fuzzer_no_main), for a binary that has its
/// own main: SwiftPM gives every executable target a main of its own, so the
/// fuzzer binary is linked with the no-main runtime and calls this.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
