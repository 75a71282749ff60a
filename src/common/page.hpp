#pragma once
// Cursor pagination: lists are ordered by id (ids sort by creation time); the cursor is the
// last id of the previous page, opaque to clients.

#include <string>
#include <vector>

namespace carillon {

struct PageRequest {
  std::string after;  // exclusive: return items with id > after; empty = from the start
  int limit = 50;     // 1..500, validated by the API layer
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next;  // id to pass as `after` for the next page; empty when this is the last
};

}  // namespace carillon
