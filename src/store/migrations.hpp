#pragma once
// The schema, one entry per version, in SQL that SQLite and PostgreSQL both accept (TEXT,
// BIGINT, partial indexes; JSON is stored as TEXT, binary data as base64 TEXT).

#include <span>
#include <string_view>
#include <vector>

namespace carillon::store {

struct Migration {
  int version;
  std::string_view description;
  std::vector<std::string_view> statements;
};

// Ascending by version; a released version is never edited, only followed by a new one.
std::span<const Migration> migrations();

}  // namespace carillon::store
