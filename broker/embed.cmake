# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# Embeds a text file as a NUL-terminated C array (build time, no tool but cmake).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* generated from ${IN} by embed.cmake: do not edit */\n"
     "const char ${NAME}[] = {${bytes}0x00};\n")
