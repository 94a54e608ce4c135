//! @file 8-bit RGB PNG images through libpng: `write_png` and `read_png_rgb` (docs/conventions.md, "Files").
//!
//! Needs libpng (Debian's libpng-dev): link it (CMake: `find_package(PNG)`, `PNG::PNG`). Not included by
//! voxformer/voxformer.hpp, so that the rest of the library needs no libpng.
//
// libpng reports an error by calling our error function, which must not return: it keeps the message and
// longjmps back to the setjmp of `png_try`. A C++ exception thrown through libpng's C frames instead would be
// undefined, and so is a longjmp that skips a destructor — hence every libpng call that can fail runs inside
// `png_try`, in code that holds only trivially destructible objects, and the owning handles live in the caller.
#pragma once

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/binary_file.hpp"

namespace voxformer::io {

//! An 8-bit RGB image: rows top to bottom, pixels left to right, 3 bytes (red, green, blue) each.
struct rgb_image {
  index_t width = 0;
  index_t height = 0;
  std::vector<std::uint8_t> rgb;  //!< width·height·3 bytes
};

namespace detail {

//! libpng's text for a failed call. Plain storage: it is written right before a longjmp.
struct png_message {
  char text[200];
};

inline void png_keep_error_and_jump(png_structp png, png_const_charp text) {
  auto* message = static_cast<png_message*>(png_get_error_ptr(png));
  std::snprintf(message->text, sizeof message->text, "%s", text);
  png_longjmp(png, 1);
}

// Warnings (an odd colour profile, an unknown ancillary chunk) leave the pixels intact; by default libpng would
// print them on stderr.
inline void png_ignore_warning(png_structp, png_const_charp) {}

//! Runs `libpng_calls()` and returns true, or returns false if libpng reported an error (its text is then in the
//! png_message given to png_create_*_struct). `libpng_calls` must hold no object with a non-trivial destructor.
template <class Calls>
bool png_try(png_structp png, const Calls& libpng_calls) {
  if (setjmp(png_jmpbuf(png))) return false;
  libpng_calls();
  return true;
}

//! Owns a stdio file, for the reader (libpng's own I/O is stdio).
struct stdio_file {
  std::FILE* handle = nullptr;
  stdio_file(const std::filesystem::path& path, const char* mode) : handle(std::fopen(path.c_str(), mode)) {}
  stdio_file(const stdio_file&) = delete;
  stdio_file& operator=(const stdio_file&) = delete;
  ~stdio_file() {
    if (handle != nullptr) std::fclose(handle);
  }
};

//! The writer's output, an atomic_file. A failed write may not throw through libpng's C frames: the file keeps its
//! reason, and libpng's error path (a longjmp) ends the encoding.
inline void png_write_to_file(png_structp png, png_bytep data, std::size_t bytes) {
  if (!static_cast<atomic_file*>(png_get_io_ptr(png))->write_or_keep_error(data, bytes)) png_error(png, "write failed");
}

// Given no flush function, libpng would fflush its output as a FILE*; the file is flushed when it is committed.
inline void png_flush_nothing(png_structp) {}

//! libpng's read or write structures, with the message its error function fills; destroyed on every path.
template <bool Reading>
struct png_handles {
  png_message message{};
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_handles() {
    png = Reading ? png_create_read_struct(PNG_LIBPNG_VER_STRING, &message, png_keep_error_and_jump, png_ignore_warning)
                  : png_create_write_struct(PNG_LIBPNG_VER_STRING, &message, png_keep_error_and_jump,
                                            png_ignore_warning);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  png_handles(const png_handles&) = delete;
  png_handles& operator=(const png_handles&) = delete;
  ~png_handles() {
    if constexpr (Reading) png_destroy_read_struct(&png, &info, nullptr);
    else png_destroy_write_struct(&png, &info);
  }
};

inline std::string errno_text() { return std::generic_category().message(errno); }

}  // namespace detail

//! Writes `rgb` (width·height·3 bytes: rows top to bottom, red, green, blue) as an 8-bit RGB PNG. The sizes must be
//! positive and at most libpng's limit (1 000 000 per side); they are checked before the file is created.
//! A file that cannot be created or written, or a libpng error, is a voxformer::error naming the file; the file is
//! then left as it was (atomic_file.hpp).
inline void write_png(const std::filesystem::path& path, std::span<const std::uint8_t> rgb, index_t width,
                      index_t height) {
  using voxformer::detail::require;
  const std::string where = "voxformer::io::write_png('" + path.string() + "')";
  require(width > 0 && height > 0, where, ": width and height must be positive, got ", width, "x", height);
  require(width <= PNG_USER_WIDTH_MAX && height <= PNG_USER_HEIGHT_MAX, where, ": ", width, "x", height,
          " exceeds libpng's limit of ", PNG_USER_WIDTH_MAX, "x", PNG_USER_HEIGHT_MAX);
  const index_t bytes = 3 * width * height;
  require(rgb.size() == static_cast<std::size_t>(bytes), where, ": ", rgb.size(), " bytes, a ", width, "x", height,
          " RGB image has ", bytes);

  detail::write_file_atomically(path, where, [&](detail::atomic_file& file) {
    detail::png_handles<false> handles;
    require(handles.info != nullptr, where, ": libpng could not allocate its structures");
    const bool encoded = detail::png_try(handles.png, [&] {
      png_set_write_fn(handles.png, &file, detail::png_write_to_file, detail::png_flush_nothing);
      png_set_IHDR(handles.png, handles.info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
                   PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
      png_write_info(handles.png, handles.info);
      for (index_t y = 0; y < height; ++y) png_write_row(handles.png, rgb.data() + 3 * width * y);
      png_write_end(handles.png, nullptr);
    });
    file.throw_if_write_failed();  // the system's reason, rather than libpng's "write failed"
    require(encoded, where, ": libpng: ", handles.message.text);
  });
}

namespace detail {

//! Which PNGs a reader takes: any, converted to 8-bit RGB; or only 8-bit RGB ones, as a camera gives them.
enum class png_colours { any, rgb8_only };

inline std::string png_colour_name(int colour_type, int bit_depth) {
  const char* kind = colour_type == PNG_COLOR_TYPE_GRAY         ? "grey"
                     : colour_type == PNG_COLOR_TYPE_GRAY_ALPHA ? "grey + alpha"
                     : colour_type == PNG_COLOR_TYPE_PALETTE    ? "palette"
                     : colour_type == PNG_COLOR_TYPE_RGB_ALPHA  ? "RGBA"
                                                                : "RGB";
  return std::to_string(bit_depth) + "-bit " + kind;
}

inline rgb_image read_png(const std::filesystem::path& path, const std::string& where, png_colours colours) {
  using voxformer::detail::require;
  const auto file_bytes = detail::regular_file_size(path, where);
  detail::stdio_file file(path, "rb");
  require(file.handle != nullptr, where, ": cannot open for reading: ", detail::errno_text());
  png_byte signature[8] = {};
  require(std::fread(signature, 1, sizeof signature, file.handle) == sizeof signature &&
              png_sig_cmp(signature, 0, sizeof signature) == 0,
          where, ": not a PNG file (it does not start with the PNG signature)");

  detail::png_handles<true> handles;
  require(handles.info != nullptr, where, ": libpng could not allocate its structures");
  png_uint_32 width = 0, height = 0;
  std::uint64_t encoded_bytes = 0;  // the filtered rows as stored, before inflating
  int passes = 1, colour_type = 0, bit_depth = 0;
  // libpng says "Read Error" for a short file and for a failing disk alike: the first, the common one, is named.
  const auto failure = [&] {
    return std::feof(file.handle) ? std::string("truncated: the file ends inside the PNG")
                                  : "libpng: " + std::string(handles.message.text);
  };
  const bool header_read = detail::png_try(handles.png, [&] {
    png_init_io(handles.png, file.handle);
    png_set_sig_bytes(handles.png, sizeof signature);
    png_read_info(handles.png, handles.info);
    width = png_get_image_width(handles.png, handles.info);
    height = png_get_image_height(handles.png, handles.info);
    encoded_bytes = (png_get_rowbytes(handles.png, handles.info) + 1) * std::uint64_t{height};
    colour_type = png_get_color_type(handles.png, handles.info);
    bit_depth = png_get_bit_depth(handles.png, handles.info);
    png_set_expand(handles.png);  // palette → RGB, grey below 8 bits → 8 bits, a tRNS chunk → alpha
    png_set_scale_16(handles.png);
    png_set_strip_alpha(handles.png);
    png_set_gray_to_rgb(handles.png);
    passes = png_set_interlace_handling(handles.png);
    png_read_update_info(handles.png, handles.info);
  });
  if (!header_read) voxformer::detail::fail(where, ": ", failure());
  require(colours == png_colours::any || (colour_type == PNG_COLOR_TYPE_RGB && bit_depth == 8), where, ": a ",
          png_colour_name(colour_type, bit_depth), " PNG; a camera image must be 8-bit RGB");
  // Deflate inflates at most 1032:1, so a header claiming more could only be followed by an error — after the
  // allocation below, which a few crafted bytes could otherwise make terabytes.
  require(encoded_bytes <= 1032 * file_bytes, where, ": the header claims ", width, "x", height,
          " pixels, more than a ", file_bytes, "-byte PNG can hold");
  // A valid 1-bit image still expands 24× into RGB8: the output is bounded on its own (1 GiB, a 18 000 × 18 000
  // picture), so that no file makes the reader ask for more than that.
  constexpr std::uint64_t most_output_bytes = std::uint64_t{1} << 30;
  require(std::uint64_t{3} * width * height <= most_output_bytes, where, ": ", width, "x", height,
          " pixels are more than this reader returns (1 GiB of RGB)");
  const auto row_bytes = std::size_t{3} * width;
  // The transforms above give RGB8 for every colour type; libpng writes this many bytes into each row below.
  require(png_get_rowbytes(handles.png, handles.info) == row_bytes, where,
          ": libpng did not convert it to 8-bit RGB");

  rgb_image image{width, height, std::vector<std::uint8_t>(row_bytes * height)};
  std::uint8_t* const pixels = image.rgb.data();
  const bool pixels_read = detail::png_try(handles.png, [&] {
    // An interlaced image comes in `passes` passes over every row, each filling in more pixels of it.
    for (int pass = 0; pass < passes; ++pass)
      for (png_uint_32 y = 0; y < height; ++y) png_read_row(handles.png, pixels + row_bytes * y, nullptr);
    png_read_end(handles.png, nullptr);  // the chunks after the pixels, IEND included: a truncated end is an error
  });
  if (!pixels_read) voxformer::detail::fail(where, ": ", failure());
  return image;
}

}  // namespace detail

//! Reads a PNG of any colour type and bit depth as 8-bit RGB: palette and grey are expanded, 16-bit samples scaled
//! to 8 bits (rounded), an alpha channel dropped (not composited). A missing or non-PNG file, a corrupt or truncated
//! one, or a header claiming more pixels than the file's size can hold, is a voxformer::error naming the file.
inline rgb_image read_png_rgb(const std::filesystem::path& path) {
  return detail::read_png(path, "voxformer::io::read_png_rgb('" + path.string() + "')", detail::png_colours::any);
}

//! Reads a camera image: an 8-bit RGB PNG exactly (grey, palette, alpha and 16-bit images are errors naming what the
//! file is — the network would see other values than the camera's), with read_png_rgb's other checks.
inline rgb_image read_camera_image(const std::filesystem::path& path) {
  return detail::read_png(path, "voxformer::io::read_camera_image('" + path.string() + "')",
                          detail::png_colours::rgb8_only);
}

}  // namespace voxformer::io
