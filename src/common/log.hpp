#pragma once
// One named spdlog logger per module: log::get("devices")->info("claimed serial={}", serial).

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace carillon::log {

std::shared_ptr<spdlog::logger> get(const std::string& module);

}  // namespace carillon::log
