const nodemailer = require("nodemailer");

const transporter = nodemailer.createTransport({
  host: "smtp.tem.scaleway.com",
  port: 465,
  secure: true,
  auth: {
    user: "b5670192-6f96-444c-ab5f-8ae8da096eb7",
    pass: "aab032e7-c9bf-459a-a6c3-a8dac8365095",
  },
});

module.exports = async function sendReceipt(to, html) {
  return transporter.sendMail({ from: '"Acme Billing" <billing@example.org>', to, subject: "Your receipt", html });
};
