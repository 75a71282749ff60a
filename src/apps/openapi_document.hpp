#pragma once
#include <string_view>
namespace carillon::apps {
// docs/openapi.yaml, embedded at build time so serve needs no file next to it.
std::string_view openapi_document();
}  // namespace carillon::apps
