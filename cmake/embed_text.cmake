# Turns a text file into a C++ function returning its content:
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DNAMESPACE=carillon::apps -DFUNCTION=openapi_document -P embed_text.cmake
file(READ ${INPUT} content)
file(WRITE ${OUTPUT} "#include <string_view>\nnamespace ${NAMESPACE} {\nstd::string_view ${FUNCTION}() {\n  static constexpr char text[] = R\"carillon_embed(${content})carillon_embed\";\n  return {text, sizeof text - 1};\n}\n}  // namespace ${NAMESPACE}\n")
