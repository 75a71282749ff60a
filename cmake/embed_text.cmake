# Turns a text file into a C++ function returning its content.
file(READ ${INPUT} content)
file(WRITE ${OUTPUT} "#include <string_view>\nnamespace carillon::apps {\nstd::string_view openapi_document() {\n  static constexpr char text[] = R\"carillon_openapi(${content})carillon_openapi\";\n  return {text, sizeof text - 1};\n}\n}  // namespace carillon::apps\n")
