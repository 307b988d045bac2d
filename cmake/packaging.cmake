# The server's install rules and its Debian package (CPack).
#
#   cmake --install build --prefix /usr      the hub (bin/herald), /etc/herald/herald.json, the
#                                            systemd unit, docs, and the SDK (lib, include, CMake
#                                            package: sdk/CMakeLists.txt)
#   cpack --config build/CPackConfig.cmake   build/herald_<version>_amd64.deb: the server only
#
# The package installs a hardened unit (packaging/herald.service) that runs the hub as the
# system user `herald` (made by packaging/debian/postinst) on /var/lib/herald.

include(GNUInstallDirs)

# cmake --install: everything under the prefix (the config in <prefix>/etc unless the prefix is
# /usr, GNUInstallDirs' rule), the unit pointing at the installed binary and config.
install(TARGETS herald RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES README.md docs/api.md docs/operations.md docs/security.md docs/architecture.md
              config/herald.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server)
function(herald_unit out bin conf docs)
  set(HERALD_BIN ${bin})
  set(HERALD_CONF ${conf})
  set(HERALD_DOCS ${docs})
  configure_file(${PROJECT_SOURCE_DIR}/packaging/herald.service.in ${out} @ONLY)
endfunction()
herald_unit(${CMAKE_BINARY_DIR}/packaging/install/herald.service
            ${CMAKE_INSTALL_FULL_BINDIR}/herald ${CMAKE_INSTALL_FULL_SYSCONFDIR}/herald/herald.json
            ${CMAKE_INSTALL_FULL_DOCDIR})
install(FILES packaging/herald.json DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/herald
        COMPONENT config)
install(FILES ${CMAKE_BINARY_DIR}/packaging/install/herald.service
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/systemd/system COMPONENT config)

# The Debian package: /usr plus /etc/herald, whatever the prefix above.
herald_unit(${CMAKE_BINARY_DIR}/packaging/deb/herald.service /usr/bin/herald
            /etc/herald/herald.json /usr/share/doc/herald)
install(FILES packaging/herald.json DESTINATION /etc/herald COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_BINARY_DIR}/packaging/deb/herald.service DESTINATION lib/systemd/system
        COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME herald)
set(CPACK_PACKAGE_VENDOR "Herald")
set(CPACK_PACKAGE_CONTACT "Herald maintainers <herald@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Real-time event hub: Server-Sent Events, WebSocket and Mercure with durable replay")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server deb)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_PACKAGE_NAME herald)
set(CPACK_DEBIAN_FILE_NAME "herald_${PROJECT_VERSION}_amd64.deb")
set(CPACK_STRIP_FILES ON) # the package carries no debug info (the build tree keeps it)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # the libraries' packages, found by dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postrm
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR})
include(CPack)
