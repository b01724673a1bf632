// Reference face chips for src/face/dlib_chip.ts, made by dlib itself (Debian's libdlib-dev 19.24):
// get_face_chip_details, chip_details(chip_points, img_points, dims), get_mapping_to_chip,
// map_det_to_chip and extract_image_chip. Only test/face.dlib_chip.test.ts reads the output; the
// tests need neither dlib nor a compiler.
//
// dlib's mean face shape is read at run time from dlib's own header (interpolation.h, where
// get_face_chip_details keeps it), so this program does not share a hand-typed copy with the TS code.
//
// Build and run (apt-get install -y libdlib-dev; zlib, BLAS and LAPACK come with it). Debian's
// dlib headers are configured to call BLAS/LAPACK (find_affine_transform, svd), but the package's
// dlib-1.pc names libblas.so/liblapack.so, which only the -dev packages install, so link the
// runtime libraries by name (everything used here is header-only in dlib):
//   g++ -O2 -std=c++14 tools/reference/dlib_chip_reference.cpp -lz -l:libblas.so.3 -l:liblapack.so.3 \
//       -o /tmp/dlib_chip_ref
//   /tmp/dlib_chip_ref [/usr/include/dlib/image_transforms/interpolation.h] > test/fixtures/dlib_chip.json
//
// What it writes (coordinates: pixel centres at integers, as in dlib):
// - meanFace: the 51 mean-shape points 17..67 as parsed from the header.
// - templates: dlib's mean face (plus a made-up jaw, which dlib ignores) placed at a huge scale
//   (5e8 px per face unit, so the integer rounding of full_object_detection parts is < 1e-7 chip px)
//   and mapped into the chip by get_mapping_to_chip: the 68 chip positions of a face much larger
//   than its chip.
// - sets68: seeded random similarities of the mean face with jitter, rounded to integers as
//   full_object_detection stores them, with dlib's chip rect, angle, get_mapping_to_chip and
//   map_det_to_chip (which rounds to integers too).
// - sets5: the 5 points this project uses (eye centres = mean of 36-41 / 42-47, nose 30, mouth
//   corners 48 and 54) of each 68-point set, fitted by dlib's chip_details(chip_points, img_points,
//   dims) against the same 5 points of the mean face (dlib's own 5-point branch uses the points of
//   its 5-point landmark model instead, which are not ours).
// - pyramid: pyramid_down<2> applied twice to a window of the test image.
// - image + chips: a generated RGB pattern (integer formula, repeated in the test) and 150x150
//   chips cut from it by extract_image_chip with bilinear interpolation, at mild scales (no image
//   pyramid), at large downscales (pyramid_down<2> levels), for a 5-point fit and for a face
//   crossing the image border. Pixels are delta-coded (each byte minus the byte 3 before, mod
//   256), zlib-deflated and base64-encoded, as in test/fixtures/align.json.
#include <dlib/array2d.h>
#include <dlib/image_processing/full_object_detection.h>
#include <dlib/image_transforms.h>
#include <dlib/pixel.h>
#include <dlib/revision.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using dlib::dpoint;
using dlib::point;

namespace {

std::vector<double> parse_array(const std::string &text, const std::string &name) {
  size_t at = text.find(name);
  if (at == std::string::npos) throw std::runtime_error("no " + name + " in the header");
  size_t open = text.find('{', at);
  size_t close = text.find('}', open);
  std::string body = text.substr(open + 1, close - open - 1);
  for (char &c : body)
    if (c == ',') c = ' ';
  std::istringstream in(body);
  std::vector<double> out;
  double v;
  while (in >> v) out.push_back(v);
  if (out.size() != 51) throw std::runtime_error(name + ": expected 51 numbers");
  return out;
}

struct MeanFace {
  std::vector<double> x, y;  // points 17..67
};

// The mean face in unit coordinates for all 68 points: dlib's 17..67 plus a made-up jaw arc
// (get_face_chip_details never reads points 0..16).
std::vector<dpoint> unit_face(const MeanFace &m) {
  std::vector<dpoint> pts;
  for (int i = 0; i < 17; ++i) {
    double a = M_PI * i / 16.0;
    pts.emplace_back(0.5 - 0.5 * std::cos(a), 0.25 + 0.75 * std::sin(a));
  }
  for (int i = 0; i < 51; ++i) pts.emplace_back(m.x[i], m.y[i]);
  return pts;
}

struct Similarity {
  double scale, angle, tx, ty;
  dpoint operator()(const dpoint &p) const {
    double c = std::cos(angle) * scale, s = std::sin(angle) * scale;
    return dpoint(c * p.x() - s * p.y() + tx, s * p.x() + c * p.y() + ty);
  }
};

dlib::full_object_detection detection(const std::vector<dpoint> &pts) {
  std::vector<point> parts;
  for (const dpoint &p : pts) parts.push_back(point(p));  // dlib rounds: floor(x + 0.5)
  dlib::rectangle box;
  for (const point &p : parts) box += p;
  return dlib::full_object_detection(box, parts);
}

std::vector<dpoint> five_of(const std::vector<dpoint> &p) {
  dpoint le(0, 0), re(0, 0);
  for (int i = 36; i < 42; ++i) le += p[i];
  for (int i = 42; i < 48; ++i) re += p[i];
  return {le / 6.0, re / 6.0, p[30], p[48], p[54]};
}

std::vector<dpoint> parts_of(const dlib::full_object_detection &d) {
  std::vector<dpoint> out;
  for (unsigned long i = 0; i < d.num_parts(); ++i) out.push_back(dpoint(d.part(i)));
  return out;
}

// The 5 points of the mean face where the chip fit puts them: (padding + m) / (2 padding + 1) * size.
std::vector<dpoint> chip_template5(const MeanFace &m, unsigned long size, double padding) {
  std::vector<dpoint> unit = five_of(unit_face(m)), out;
  for (const dpoint &p : unit) out.push_back((padding + p) / (2 * padding + 1) * (double)size);
  return out;
}

// ---- JSON ----

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string pt(const dpoint &p) { return "[" + num(p.x()) + "," + num(p.y()) + "]"; }

std::string pts(const std::vector<dpoint> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + pt(v[i]);
  return s + "]";
}

std::string affine(const dlib::point_transform_affine &t) {
  const auto &m = t.get_m();
  const auto &b = t.get_b();
  return "[" + num(m(0, 0)) + "," + num(m(0, 1)) + "," + num(b(0)) + "," + num(m(1, 0)) + "," +
         num(m(1, 1)) + "," + num(b(1)) + "]";
}

std::string rect(const dlib::drectangle &r) {
  return "[" + num(r.left()) + "," + num(r.top()) + "," + num(r.right()) + "," + num(r.bottom()) + "]";
}

std::string base64(const std::vector<unsigned char> &in) {
  static const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += abc[(v >> k) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = in[i] << 16;
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string pack(const dlib::array2d<dlib::rgb_pixel> &img) {
  std::vector<unsigned char> raw;
  for (long r = 0; r < img.nr(); ++r)
    for (long c = 0; c < img.nc(); ++c) {
      raw.push_back(img[r][c].red);
      raw.push_back(img[r][c].green);
      raw.push_back(img[r][c].blue);
    }
  std::vector<unsigned char> delta(raw);
  for (size_t i = 3; i < raw.size(); ++i) delta[i] = (unsigned char)(raw[i] - raw[i - 3]);
  uLongf len = compressBound(delta.size());
  std::vector<unsigned char> z(len);
  if (compress2(z.data(), &len, delta.data(), delta.size(), 9) != Z_OK)
    throw std::runtime_error("zlib failed");
  z.resize(len);
  return base64(z);
}

// ---- the test image: integers only, so the TS test rebuilds it byte for byte ----

void pattern(dlib::array2d<dlib::rgb_pixel> &img, long w, long h) {
  img.set_size(h, w);
  for (long y = 0; y < h; ++y)
    for (long x = 0; x < w; ++x) {
      uint32_t hash = ((uint32_t)x * 73856093u) ^ ((uint32_t)y * 19349663u);
      uint32_t noise = hash >> 30;                                   // 0..3
      long tri = (x + 2 * y) % 64;                                   // diagonal triangle wave
      tri = tri < 32 ? tri : 64 - tri;                               // 0..32
      long check = ((x / 3 + y / 3) & 1) * 40;                       // 3-pixel checks: aliases
      img[y][x].red = (unsigned char)((x * 239) / (w - 1) + noise);  // <= 254
      img[y][x].green = (unsigned char)((y * 215) / (h - 1) + check);
      img[y][x].blue = (unsigned char)(60 + tri * 4);
    }
}

uint32_t fnv1a(const dlib::array2d<dlib::rgb_pixel> &img) {
  uint32_t h = 2166136261u;
  for (long r = 0; r < img.nr(); ++r)
    for (long c = 0; c < img.nc(); ++c)
      for (unsigned char b : {img[r][c].red, img[r][c].green, img[r][c].blue}) {
        h ^= b;
        h *= 16777619u;
      }
  return h;
}

}  // namespace

int main(int argc, char **argv) {
  const std::string header = argc > 1 ? argv[1] : "/usr/include/dlib/image_transforms/interpolation.h";
  std::ifstream in(header);
  if (!in) {
    std::cerr << "cannot read " << header << "\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  MeanFace mean{parse_array(text.str(), "mean_face_shape_x[]"), parse_array(text.str(), "mean_face_shape_y[]")};
  const std::vector<dpoint> unit = unit_face(mean);

  std::mt19937_64 rng(20170219);
  auto uniform = [&](double a, double b) { return a + (b - a) * std::ldexp((double)(rng() >> 11), -53); };
  auto normal = [&]() {  // Box-Muller: the draws are written to the fixture, so any normal will do
    double u1 = uniform(1e-12, 1), u2 = uniform(0, 1);
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  };

  std::ostringstream out;
  out << "{\n\"generator\": \"tools/reference/dlib_chip_reference.cpp with dlib " << DLIB_MAJOR_VERSION
      << "." << DLIB_MINOR_VERSION << "\",\n";
  out << "\"meanFace\": {\"x\": [";
  for (int i = 0; i < 51; ++i) out << (i ? "," : "") << num(mean.x[i]);
  out << "], \"y\": [";
  for (int i = 0; i < 51; ++i) out << (i ? "," : "") << num(mean.y[i]);
  out << "]},\n";

  // (a) The mean face itself, huge, so dlib's fit is exact and the chip positions are the template.
  struct SizePad {
    unsigned long size;
    double padding;
  };
  const std::vector<SizePad> shapes = {{150, 0.25}, {200, 0.2}, {151, 0.0}, {80, 0.5}};
  out << "\"templates\": [";
  for (size_t k = 0; k < shapes.size(); ++k) {
    const Similarity g{5e8, 0.3 + 0.7 * k, 1e8, 2e8};
    std::vector<dpoint> placed;
    for (const dpoint &p : unit) placed.push_back(g(p));
    const auto det = detection(placed);
    const auto details = dlib::get_face_chip_details(det, shapes[k].size, shapes[k].padding);
    const auto to_chip = dlib::get_mapping_to_chip(details);
    std::vector<dpoint> mapped;
    for (const dpoint &p : parts_of(det)) mapped.push_back(to_chip(p));
    out << (k ? ",\n" : "\n") << "{\"size\": " << shapes[k].size << ", \"padding\": " << num(shapes[k].padding)
        << ", \"mapped\": " << pts(mapped) << "}";
  }
  out << "],\n";

  // (b) Jittered random similarities of the mean face: 68 points through get_face_chip_details, and
  // their 5 points through chip_details(derived template -> points).
  std::ostringstream sets68, sets5;
  const int n_sets = 10;
  for (int k = 0; k < n_sets; ++k) {
    const SizePad sp = shapes[k % shapes.size()];
    const double face = std::exp(uniform(std::log(40.0), std::log(3000.0)));  // px per face unit
    const double angle = k == 3 ? 3.0 : uniform(-0.7, 0.7);                  // one upside-down face
    const Similarity g{face, angle, uniform(-200, 4000), uniform(-200, 3000)};
    std::vector<dpoint> placed;
    for (const dpoint &p : unit) placed.push_back(g(p) + dpoint(normal(), normal()) * (0.02 * face));
    if (k == 5)  // garbage where dlib does not look: the fit must not change
      for (int i : {0, 8, 16, 17, 21, 26, 55, 57, 59, 65, 67}) placed[i] = dpoint(uniform(-1e4, 1e4), uniform(-1e4, 1e4));
    const auto det = detection(placed);
    const auto details = dlib::get_face_chip_details(det, sp.size, sp.padding);
    const auto to_chip = dlib::get_mapping_to_chip(details);
    const auto chip_det = dlib::map_det_to_chip(det, details);
    const std::vector<dpoint> parts = parts_of(det);
    sets68 << (k ? ",\n" : "\n") << "{\"name\": \"set" << k << "\", \"size\": " << sp.size
           << ", \"padding\": " << num(sp.padding) << ", \"points\": " << pts(parts)
           << ", \"rect\": " << rect(details.rect) << ", \"angle\": " << num(details.angle)
           << ", \"matrix\": " << affine(to_chip) << ", \"mapped\": " << pts(parts_of(chip_det)) << "}";

    const std::vector<dpoint> five = five_of(parts);
    const dlib::chip_details d5(chip_template5(mean, sp.size, sp.padding), five, dlib::chip_dims(sp.size, sp.size));
    sets5 << (k ? ",\n" : "\n") << "{\"name\": \"set" << k << "\", \"size\": " << sp.size
          << ", \"padding\": " << num(sp.padding) << ", \"points\": " << pts(five) << ", \"rect\": " << rect(d5.rect)
          << ", \"angle\": " << num(d5.angle) << ", \"matrix\": " << affine(dlib::get_mapping_to_chip(d5)) << "}";
  }
  out << "\"sets68\": [" << sets68.str() << "],\n";
  out << "\"sets5\": [" << sets5.str() << "],\n";

  // (c) Chips of a generated image.
  const long W = 2400, H = 2000;
  dlib::array2d<dlib::rgb_pixel> img;
  pattern(img, W, H);
  out << "\"image\": {\"width\": " << W << ", \"height\": " << H << ", \"fnv1a\": " << fnv1a(img) << "},\n";
  struct ChipCase {
    const char *name;
    double face, angle, cx, cy;
    bool five;
  };
  // face = px per mean-face unit; the chip rect is about 1.5 face wide at padding 0.25, and dlib
  // starts its pyramid once the rect is over twice the chip (about face > 200 for 150 px chips).
  const std::vector<ChipCase> cases = {
      {"mild", 120, 0.2, 700, 600, false},          {"upscale", 70, -0.4, 300, 1700, false},
      {"pyramid1", 290, 0.35, 1200, 800, false},    {"pyramid2", 560, -0.15, 1300, 1000, false},
      {"pyramid3", 1150, 0.1, 1200, 1000, false},   {"five-mild", 140, 0.6, 1900, 400, true},
      {"five-pyramid", 700, -0.5, 1100, 1050, true}, {"border", 160, 0.1, 60, 1950, false},
  };
  // pyramid_down<2> twice on a window of the image, for a bit-exact check of the filter alone.
  {
    const dlib::rectangle win(101, 53, 101 + 76, 53 + 58);
    dlib::array2d<dlib::rgb_pixel> down1, down2;
    dlib::pyramid_down<2> pyr;
    pyr(dlib::sub_image(img, win), down1);
    pyr(down1, down2);
    out << "\"pyramid\": {\"window\": [" << win.left() << "," << win.top() << "," << win.right() << ","
        << win.bottom() << "], \"levels\": [{\"width\": " << down1.nc() << ", \"height\": " << down1.nr()
        << ", \"data\": \"" << pack(down1) << "\"}, {\"width\": " << down2.nc() << ", \"height\": " << down2.nr()
        << ", \"data\": \"" << pack(down2) << "\"}]},\n";
  }
  out << "\"chips\": [";
  for (size_t k = 0; k < cases.size(); ++k) {
    const ChipCase &c = cases[k];
    const unsigned long size = 150;
    const double padding = 0.25;
    // Centre the face unit square (0.5, 0.5) on (cx, cy).
    const Similarity g0{c.face, c.angle, 0, 0};
    const dpoint mid = g0(dpoint(0.5, 0.5));
    const Similarity g{c.face, c.angle, c.cx - mid.x(), c.cy - mid.y()};
    std::vector<dpoint> placed;
    for (const dpoint &p : unit) placed.push_back(g(p) + dpoint(normal(), normal()) * (0.01 * c.face));
    const auto det = detection(placed);
    const std::vector<dpoint> parts = parts_of(det);
    dlib::chip_details details;
    std::vector<dpoint> landmarks = parts;
    if (c.five) {
      landmarks = five_of(parts);
      details = dlib::chip_details(chip_template5(mean, size, padding), landmarks, dlib::chip_dims(size, size));
    } else {
      details = dlib::get_face_chip_details(det, size, padding);
    }
    dlib::array2d<dlib::rgb_pixel> chip;
    dlib::extract_image_chip(img, details, chip);
    out << (k ? ",\n" : "\n") << "{\"name\": \"" << c.name << "\", \"size\": " << size
        << ", \"padding\": " << num(padding) << ", \"landmarks\": " << pts(landmarks)
        << ", \"rect\": " << rect(details.rect) << ", \"angle\": " << num(details.angle)
        << ", \"matrix\": " << affine(dlib::get_mapping_to_chip(details)) << ", \"width\": " << chip.nc()
        << ", \"height\": " << chip.nr() << ", \"data\": \"" << pack(chip) << "\"}";
  }
  out << "]\n}\n";
  std::cout << out.str();
  return 0;
}
