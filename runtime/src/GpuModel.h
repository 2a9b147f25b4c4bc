//===- GpuModel.h - Does a GPU's name match a cluster map's model? -*- C++ -*-===//
//
// Header-only, so the cuda backend (runtime/cuda/Backend.cu) and the host-side unit tests share
// one rule without the backend linking libingot_rt's objects.
//
// A cluster map names the model the way people write it, family first ("H100-SXM5-80GB",
// "A100-SXM4-80GB", "H200"); CUDA names the device its own way ("NVIDIA H100 80GB HBM3"). They
// match when the device name contains the map's whole string or, failing that, the map's
// family (its text before the first '-'), either as a whole word, ignoring case: "H100-SXM5-80GB" matches
// "NVIDIA H100 80GB HBM3" and "NVIDIA H100 PCIe", not "NVIDIA A100-SXM4-80GB" or "NVIDIA GH100".
// A map model of "any" (or none) matches every device.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_GPUMODEL_H
#define INGOT_RT_GPUMODEL_H

#include <cctype>
#include <cstring>
#include <string>

namespace ingot::rt {

inline std::string lowerAscii(const char *s) {
  std::string out;
  for (; *s; ++s)
    out += char(std::tolower((unsigned char)*s));
  return out;
}

/// `word` in `text` with no letter or digit right before or after it.
inline bool containsWord(const std::string &text, const std::string &word) {
  auto isWordChar = [](char c) { return std::isalnum((unsigned char)c) != 0; };
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    size_t end = at + word.size();
    if ((at == 0 || !isWordChar(text[at - 1])) && (end == text.size() || !isWordChar(text[end])))
      return true;
  }
  return false;
}

inline bool deviceModelMatches(const char *mapModel, const char *deviceName) {
  if (!mapModel || !*mapModel || std::strcmp(mapModel, "any") == 0)
    return true;
  const std::string want = lowerAscii(mapModel), name = lowerAscii(deviceName ? deviceName : "");
  const std::string family = want.substr(0, want.find('-'));
  return containsWord(name, want) || (!family.empty() && containsWord(name, family));
}

} // namespace ingot::rt

#endif // INGOT_RT_GPUMODEL_H
