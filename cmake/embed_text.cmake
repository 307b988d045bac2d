# Writes OUTPUT: a C++ source defining herald::NAME as a std::string_view of INPUT's bytes (a raw
# string literal, so the file is compiled into the binary as it is). Run by a custom command.
file(READ "${INPUT}" text)
string(FIND "${text}" ")HERALD_EMBED\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake: do not edit.\n"
  "#include <string_view>\n"
  "namespace herald {\n"
  "extern const std::string_view ${NAME};\n"
  "const std::string_view ${NAME} = R\"HERALD_EMBED(${text})HERALD_EMBED\";\n"
  "} // namespace herald\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
