"""Catalogue of the built-in connectors: "kind:driver" -> "module:Class", and the optional libraries they need.

Nothing is imported here; ``REQUIRES`` lets validation report a missing extra without importing the library.
"""

BUILTIN_CONNECTORS: dict[str, str] = {
    "db:sqlalchemy": "aetherflow.connectors.db:SqlAlchemyConnector",
    "db:postgres": "aetherflow.connectors.db:SqlAlchemyConnector",
    "db:mysql": "aetherflow.connectors.db:SqlAlchemyConnector",
    "db:sqlite3": "aetherflow.connectors.db:Sqlite3Connector",
    "db:duckdb": "aetherflow.connectors.db_duckdb:DuckDbConnector",
    "db:oracledb": "aetherflow.connectors.db_oracle:OracleConnector",
    "db:exasol": "aetherflow.connectors.db_exasol:ExasolConnector",
    "rest:http": "aetherflow.connectors.http:HttpConnector",
    "rest:httpx": "aetherflow.connectors.http:HttpConnector",
    "mail:smtp": "aetherflow.connectors.smtp:SmtpConnector",
    "sftp:paramiko": "aetherflow.connectors.sftp:ParamikoSftpConnector",
    "s3:boto3": "aetherflow.connectors.s3:Boto3S3Connector",
    "smb:smbclient": "aetherflow.connectors.smb_smbclient:SmbclientConnector",
    "smb:pysmb": "aetherflow.connectors.smb_pysmb:PysmbConnector",
    "archive:zipfile": "aetherflow.connectors.archive:ZipfileConnector",
    "archive:pyzipper": "aetherflow.connectors.archive:PyzipperConnector",
    "archive:os": "aetherflow.connectors.archive_programs:OsZipConnector",
    "archive:external": "aetherflow.connectors.archive_programs:ExternalArchiveConnector",
    "archive:pyminizip": "aetherflow.connectors.archive_pyminizip:PyminizipConnector",
}

#: "kind:driver" -> (importable module it needs, extra that installs it)
REQUIRES: dict[str, tuple[str, str]] = {
    "db:sqlalchemy": ("sqlalchemy", "db"),
    "db:postgres": ("sqlalchemy", "db"),
    "db:mysql": ("sqlalchemy", "db"),
    "db:duckdb": ("duckdb", "duckdb"),
    "db:oracledb": ("oracledb", "oracle"),
    "db:exasol": ("pyexasol", "exasol"),
    "rest:http": ("urllib3", "rest"),
    "rest:httpx": ("urllib3", "rest"),
    "sftp:paramiko": ("paramiko", "sftp"),
    "s3:boto3": ("boto3", "s3"),
    "smb:smbclient": ("smbclient", "smb"),
    "smb:pysmb": ("smb", "smb"),
    "archive:pyzipper": ("pyzipper", "zip"),
    "archive:pyminizip": ("pyminizip", "pyminizip"),
}
