"""Catalogue of the built-in step types: name -> "module:Class". Nothing is imported here."""

BUILTIN_STEPS: dict[str, str] = {
    "check_items": "aetherflow.steps.control:CheckItems",
    "with_lock": "aetherflow.steps.control:WithLock",
    "external.process": "aetherflow.steps.process:ExternalProcess",
    "db_extract": "aetherflow.steps.db:DbExtract",
    "db_fetch_small": "aetherflow.steps.db:DbFetchSmall",
    "db_extract_stream": "aetherflow.steps.db:DbExtractStream",
    "zip": "aetherflow.steps.archive:Zip",
    "unzip": "aetherflow.steps.archive:Unzip",
    "sftp_list_files": "aetherflow.steps.sftp:SftpListFiles",
    "sftp_download_files": "aetherflow.steps.sftp:SftpDownloadFiles",
    "sftp_upload_files": "aetherflow.steps.sftp:SftpUploadFiles",
    "sftp_delete_files": "aetherflow.steps.sftp:SftpDeleteFiles",
    "smb_list_files": "aetherflow.steps.smb:SmbListFiles",
    "smb_download_files": "aetherflow.steps.smb:SmbDownloadFiles",
    "smb_upload_files": "aetherflow.steps.smb:SmbUploadFiles",
    "smb_delete_files": "aetherflow.steps.smb:SmbDeleteFiles",
    "mail_send": "aetherflow.steps.mail:MailSend",
    "http_request": "aetherflow.steps.http:HttpRequest",
    "s3_list_files": "aetherflow.steps.s3:S3ListFiles",
    "s3_download_files": "aetherflow.steps.s3:S3DownloadFiles",
    "s3_upload_files": "aetherflow.steps.s3:S3UploadFiles",
    "s3_delete_files": "aetherflow.steps.s3:S3DeleteFiles",
    "excel_validate_template": "aetherflow.steps.excel:ExcelValidateTemplate",
    "excel_fill_small": "aetherflow.steps.excel:ExcelFillSmall",
    "excel_fill_from_file": "aetherflow.steps.excel:ExcelFillFromFile",
}

#: step type -> (module, extra) of the optional library it needs; validation reports a missing one without importing it
STEP_REQUIRES: dict[str, tuple[str, str]] = {
    "excel_validate_template": ("openpyxl", "excel"),
    "excel_fill_small": ("openpyxl", "excel"),
    "excel_fill_from_file": ("openpyxl", "excel"),
}
