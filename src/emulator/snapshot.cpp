#include "emulator/snapshot.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace carillon::emulator {

namespace {

constexpr int kWidth = 320;
constexpr int kHeight = 240;

// 5x7 glyphs, one byte per row, bit 4 = leftmost pixel.
const std::array<std::uint8_t, 7>* glyph(char c) {
  static const std::array<std::array<std::uint8_t, 7>, 13> font = {{
      {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},  // 0
      {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 1
      {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},  // 2
      {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // 3
      {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},  // 4
      {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 5
      {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},  // 6
      {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 7
      {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},  // 8
      {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 9
      {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},  // -
      {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00},  // :
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // space
  }};
  if (c >= '0' && c <= '9') return &font[static_cast<std::size_t>(c - '0')];
  if (c == '-') return &font[10];
  if (c == ':') return &font[11];
  return &font[12];
}

void draw_text(std::vector<std::uint8_t>& rgb, const std::string& text, int x0, int y0, int scale) {
  int x = x0;
  for (char c : text) {
    const auto& g = *glyph(c);
    for (int row = 0; row < 7; ++row) {
      for (int col = 0; col < 5; ++col) {
        if (!(g[static_cast<std::size_t>(row)] & (0x10 >> col))) continue;
        for (int dy = 0; dy < scale; ++dy) {
          for (int dx = 0; dx < scale; ++dx) {
            int px = x + col * scale + dx;
            int py = y0 + row * scale + dy;
            if (px < 0 || py < 0 || px >= kWidth || py >= kHeight) continue;
            auto at = static_cast<std::size_t>((py * kWidth + px) * 3);
            rgb[at] = rgb[at + 1] = rgb[at + 2] = 255;
          }
        }
      }
    }
    x += 6 * scale;
  }
}

}  // namespace

Result<std::string> make_snapshot_jpeg(std::int64_t unix_seconds) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(kWidth * kHeight * 3));
  // Colour bars in the top two thirds, a dark band for the time below.
  static const std::array<std::array<std::uint8_t, 3>, 7> bars = {
      {{192, 192, 192}, {192, 192, 0}, {0, 192, 192}, {0, 192, 0}, {192, 0, 192}, {192, 0, 0}, {0, 0, 192}}};
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      auto at = static_cast<std::size_t>((y * kWidth + x) * 3);
      std::array<std::uint8_t, 3> c{16, 16, 32};
      if (y < kHeight * 2 / 3) c = bars[static_cast<std::size_t>(x * 7 / kWidth)];
      rgb[at] = c[0];
      rgb[at + 1] = c[1];
      rgb[at + 2] = c[2];
    }
  }
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> date{};
  std::array<char, 32> time{};
  std::strftime(date.data(), date.size(), "%Y-%m-%d", &tm);
  std::strftime(time.data(), time.size(), "%H:%M:%S", &tm);
  draw_text(rgb, date.data(), 10, kHeight * 2 / 3 + 6, 3);
  draw_text(rgb, time.data(), 10, kHeight * 2 / 3 + 34, 3);

  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  // libjpeg's default error_exit calls exit(); encoding fixed-size memory data cannot fail in
  // ways other than out-of-memory, which is a start-up class failure anyway.
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  jpeg_mem_dest(&cinfo, &out, &out_size);
  cinfo.image_width = kWidth;
  cinfo.image_height = kHeight;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 80, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = &rgb[static_cast<std::size_t>(cinfo.next_scanline) * kWidth * 3];
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  if (out == nullptr) return fail(Errc::internal, "JPEG encoder produced nothing");
  std::string jpeg(reinterpret_cast<const char*>(out), out_size);
  std::free(out);
  return jpeg;
}

}  // namespace carillon::emulator
