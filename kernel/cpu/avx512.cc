#include "kernel/cpu/avx512.h"

#include <cstdlib>
#include <string_view>

namespace sbpflow::cpu {

bool HasAvx512() {
  static const bool available = [] {
    const char* disabled = std::getenv("SBPFLOW_NO_AVX512");
    if (disabled != nullptr && std::string_view(disabled) != "" &&
        std::string_view(disabled) != "0") {
      return false;
    }
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512dq") != 0 &&
           __builtin_cpu_supports("avx512vl") != 0;
  }();
  return available;
}

}  // namespace sbpflow::cpu
